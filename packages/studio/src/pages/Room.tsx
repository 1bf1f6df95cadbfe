import { useEffect, useMemo, useState } from "react";
import { Link, useParams } from "react-router-dom";
import type { RoomClient } from "@meshagent/meshagent";
import { useApi } from "../App.tsx";
import { useRoomStream } from "../room-stream.ts";
import { ServiceCard } from "../components/ServiceCard.tsx";
import { LogViewer } from "../components/LogViewer.tsx";
import { Timeline } from "../components/Timeline.tsx";
import { StatsChart } from "../components/StatsChart.tsx";
import { Chat } from "../components/Chat.tsx";
import { Storage } from "../components/Storage.tsx";
import { TaskProgress } from "../components/TaskProgress.tsx";
import { SecretList } from "../components/SecretList.tsx";
import { dateTime, duration, useLoad, useNow } from "../hooks.ts";
import type { SessionInfo } from "../types.ts";

/** `/rooms/{room}`: the live room as one story — services, logs, events, stats, people, chat. */
export function RoomPage() {
  const room = useParams().room!;
  const api = useApi();
  const { state, logs } = useRoomStream(api, room);
  const [client, setClient] = useState<RoomClient | null>(null);
  const now = useNow();
  const live = state.live;
  const session = live?.session ?? null;
  const sessionId = session?.id ?? null;
  const services = live?.services ?? [];
  // A disabled service never runs: nothing to chart.
  const measured = services.filter((s) => s.enabled !== false);
  const serviceList = useMemo(() => services.map((s) => ({ id: s.service_id, name: s.name })), [services]);
  const sessionEvents = state.events.filter((e) => sessionId === null || e.session_id === sessionId);

  const recent = useLoad(
    async () => (await api.get<{ sessions: SessionInfo[] }>(api.project("/sessions"))).sessions.filter((s) => s.room_name === room && !s.is_active).slice(0, 10),
    [api, room],
  );
  // A session that just ended appears in the list (its record is completed as it ends, so
  // look again shortly after too).
  useEffect(() => {
    if (sessionId !== null) return;
    recent.reload();
    const t = setTimeout(recent.reload, 1500);
    return () => clearTimeout(t);
  }, [sessionId, recent.reload]);
  useEffect(() => {
    document.title = `${room} · Studio`;
  }, [room]);

  // The server refused the room's stream (an invalid name, signed out): say why, and offer
  // nothing that would fail the same way (Add service, Join).
  if (state.connection === "failed") {
    return (
      <div className="page room-page">
        <header className="page-head">
          <div>
            <p className="crumbs"><Link to="/rooms">Rooms</Link> /</p>
            <h1>{room}</h1>
          </div>
        </header>
        <div className="notice bad" role="alert">
          <p>The server refused this room: {state.error}</p>
          <p><Link to="/rooms">Back to the rooms</Link></p>
        </div>
      </div>
    );
  }

  return (
    <div className="page room-page">
      <header className="page-head">
        <div>
          <p className="crumbs"><Link to="/rooms">Rooms</Link> /</p>
          <h1>{room}</h1>
          <p className="muted">
            {live === null ? "Connecting…" : session === null ? "No live session — join the room to start one." : (
              <>Session <span className="mono">{session.id}</span> · up {duration(now - Date.parse(session.started_at))}</>
            )}
            {state.connection === "reconnecting" && <span className="badge tone-warn" role="status"> reconnecting</span>}
          </p>
        </div>
        <div className="head-actions">
          <Link className="button" to={`/rooms/${encodeURIComponent(room)}/services`}>Room services</Link>
          <Link className="button primary" to={`/rooms/${encodeURIComponent(room)}/services/new`}>Add service</Link>
        </div>
      </header>

      <TaskProgress client={client} />

      <div className="room-grid">
        <section className="panel services-panel" role="region" aria-label="Services">
          <h2>Services</h2>
          {services.length === 0 ? (
            <p className="empty">No services. <Link to={`/rooms/${encodeURIComponent(room)}/services/new`}>Add one</Link> and it starts at the next session.</p>
          ) : (
            <div className="cards">{services.map((s) => <ServiceCard key={s.service_id} room={room} s={s} sessionLive={session !== null} />)}</div>
          )}
        </section>

        <section className="panel participants-panel" role="region" aria-label="Participants">
          <h2>Participants</h2>
          {session === null || session.participants.length === 0 ? <p className="empty">Nobody is in the room.</p> : (
            <ul className="people">
              {session.participants.map((p) => (
                <li key={p.id}><span className="dot on" aria-hidden="true" /><strong>{p.name}</strong> <span className="muted small">{p.role} · joined {duration(now - Date.parse(p.joined_at))} ago</span></li>
              ))}
            </ul>
          )}
          <h3 className="sub">Recent sessions</h3>
          {recent.data === null || recent.data.length === 0 ? <p className="muted small">None yet.</p> : (
            <ul className="sessions">
              {recent.data.map((s) => (
                <li key={s.id}>
                  <Link to={`/rooms/${encodeURIComponent(room)}/sessions/${encodeURIComponent(s.id)}`}>{dateTime(s.created_at)}</Link>
                  <span className="muted small"> · {(s.end_reason ?? "ended").replaceAll("_", " ")}</span>
                </li>
              ))}
            </ul>
          )}
        </section>

        <section className="panel logs-panel" role="region" aria-label="Logs">
          <h2>Logs</h2>
          <LogViewer buffer={logs} services={serviceList} fileName={`${room}-logs.txt`} />
        </section>

        <section className="panel events-panel" role="region" aria-label="Events">
          <h2>Events</h2>
          <Timeline events={sessionEvents} start={session?.started_at ?? null} end={null} />
        </section>

        <section className="panel diag-panel" role="region" aria-label="Diagnostics">
          <h2>Diagnostics</h2>
          {measured.length === 0 ? <p className="empty">No services to measure.</p> : (
            <div className="charts">
              {measured.map((s) => {
                const samples = (state.stats.get(s.service_id) ?? []).filter((x) => sessionId === null || x.session_id === sessionId);
                return (
                  <div key={s.service_id} className="chart-pair">
                    <StatsChart samples={samples} metric="cpu" label={`${s.name} CPU`} />
                    <StatsChart samples={samples} metric="memory" label={`${s.name} memory`} />
                  </div>
                );
              })}
            </div>
          )}
        </section>

        <section className="panel chat-panel" role="region" aria-label="Chat">
          <h2>Chat</h2>
          <Chat room={room} onClient={setClient} />
        </section>

        <section className="panel storage-panel" role="region" aria-label="Storage">
          <h2>Storage</h2>
          <Storage client={client} />
        </section>
      </div>

      <section className="panel room-secrets" role="region" aria-labelledby="room-secrets-h">
        <h2 id="room-secrets-h">Room secrets</h2>
        <p className="muted small">Only this room's services can use them; a room secret shadows a project secret of the same name. Values are write-only.</p>
        <SecretList scope={{ kind: "room", room }} />
      </section>
    </div>
  );
}
