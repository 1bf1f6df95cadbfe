import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { roomNameError } from "@roomservice/protocol";
import { useApi } from "../App.tsx";
import { dateTime, duration, useLoad, useNow } from "../hooks.ts";
import type { RoomInfo, SessionInfo } from "../types.ts";
import { stateTone } from "../components/ServiceCard.tsx";

/** `/rooms`: live rooms (session, uptime, participants, health) and recent ended sessions. */
export function RoomsPage() {
  const api = useApi();
  const navigate = useNavigate();
  const now = useNow();
  const [name, setName] = useState("");
  // The server's own rule (protocol/room-name.ts), said before navigating to a room that
  // cannot exist.
  const [nameError, setNameError] = useState<string | null>(null);
  const rooms = useLoad(async () => (await api.get<{ rooms: RoomInfo[] }>(api.project("/rooms"))).rooms, [api]);
  const recent = useLoad(async () => (await api.get<{ sessions: SessionInfo[] }>(api.project("/sessions"))).sessions.filter((s) => !s.is_active), [api]);
  // Live data: refresh every few seconds (the per-room page streams; this list polls).
  useEffect(() => {
    document.title = "Rooms · Studio";
    const t = setInterval(() => {
      rooms.reload();
      recent.reload();
    }, 5000);
    return () => clearInterval(t);
  }, [rooms.reload, recent.reload]);

  const open = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (n === "") return;
    const err = roomNameError(n);
    setNameError(err);
    if (err === null) navigate(`/rooms/${encodeURIComponent(n)}`);
    else document.getElementById("open-room")?.focus();
  };
  const live = (rooms.data ?? []).filter((r) => r.live != null);
  const idle = (rooms.data ?? []).filter((r) => r.live == null);

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Rooms</h1>
          <p className="muted">A room's services start when its first participant joins, and stop when the session ends.</p>
        </div>
        <form className="inline-form open-room" onSubmit={open} noValidate>
          <label htmlFor="open-room" className="sr-only">Room name</label>
          <input id="open-room" placeholder="room name" value={name} onChange={(e) => { setName(e.target.value); setNameError(null); }}
            aria-invalid={nameError !== null ? true : undefined} aria-describedby={nameError !== null ? "open-room-error" : undefined} />
          <button type="submit" disabled={name.trim() === ""}>Open room</button>
          {nameError !== null && <p className="field-error" id="open-room-error" role="alert">{nameError}</p>}
        </form>
      </header>
      {rooms.error !== null && <p role="alert" className="error">{rooms.error}</p>}

      <section className="panel" aria-labelledby="live-h">
        <h2 id="live-h">Live rooms</h2>
        {rooms.data !== null && live.length === 0 && <p className="empty">No room has a live session right now.</p>}
        {live.length > 0 && (
          <table className="grid-table">
            <thead><tr><th scope="col">Room</th><th scope="col">Session</th><th scope="col">Uptime</th><th scope="col">Participants</th><th scope="col">Services</th></tr></thead>
            <tbody>
              {live.map((r) => (
                <tr key={r.name}>
                  <td><Link to={`/rooms/${encodeURIComponent(r.name)}`}>{r.name}</Link></td>
                  <td className="mono small">{r.live!.session_id}</td>
                  <td>{duration(now - Date.parse(r.live!.started_at))}</td>
                  <td>{r.live!.participants}</td>
                  <td><span className={`badge tone-${r.live!.health === "none" ? "idle" : stateTone(r.live!.health)}`}>{r.live!.health === "none" ? "no services" : r.live!.health}</span></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {idle.length > 0 && (
        <section className="panel" aria-labelledby="idle-h">
          <h2 id="idle-h">Idle rooms</h2>
          <ul className="chips">{idle.map((r) => <li key={r.name}><Link to={`/rooms/${encodeURIComponent(r.name)}`}>{r.name}</Link></li>)}</ul>
        </section>
      )}

      <section className="panel" aria-labelledby="recent-h">
        <h2 id="recent-h">Recent sessions</h2>
        {recent.error !== null && <p role="alert" className="error">{recent.error}</p>}
        {recent.data !== null && recent.data.length === 0 && <p className="empty">No ended sessions yet.</p>}
        {recent.data !== null && recent.data.length > 0 && (
          <table className="grid-table">
            <thead><tr><th scope="col">Room</th><th scope="col">Started</th><th scope="col">Lasted</th><th scope="col">Participants</th><th scope="col">End reason</th></tr></thead>
            <tbody>
              {recent.data.slice(0, 50).map((s) => (
                <tr key={s.id}>
                  <td><Link to={`/rooms/${encodeURIComponent(s.room_name)}/sessions/${encodeURIComponent(s.id)}`} aria-label={`Session of ${s.room_name} at ${dateTime(s.created_at)}`}>{s.room_name}</Link></td>
                  <td>{dateTime(s.created_at)}</td>
                  <td>{s.ended_at ? duration(Date.parse(s.ended_at) - Date.parse(s.created_at)) : "—"}</td>
                  <td>{Array.isArray(s.participants) ? s.participants.join(", ") || "—" : s.participants ?? "—"}</td>
                  <td>{(s.end_reason ?? "—").replaceAll("_", " ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
