import { useEffect, useMemo } from "react";
import { Link, useParams } from "react-router-dom";
import { useApi } from "../App.tsx";
import { dateTime, duration, useLoad } from "../hooks.ts";
import { LogBuffer } from "../log-buffer.ts";
import { LogViewer } from "../components/LogViewer.tsx";
import { Timeline } from "../components/Timeline.tsx";
import type { LogLine, SessionInfo, StudioEvent } from "../types.ts";

/** `/rooms/{room}/sessions/{id}`: an ended (or live) session replayed from what the server kept. */
export function SessionPage() {
  const { room, id } = useParams() as { room: string; id: string };
  const api = useApi();
  const sid = encodeURIComponent(id);
  const data = useLoad(async () => {
    const [session, events, logs] = await Promise.all([
      api.get<SessionInfo>(api.project(`/sessions/${sid}`)),
      api.get<{ events: StudioEvent[] }>(api.project(`/sessions/${sid}/events`)),
      api.get<{ lines: LogLine[] }>(api.project(`/sessions/${sid}/logs`)),
    ]);
    return { session, events: events.events, lines: logs.lines };
  }, [api, sid]);
  const buffer = useMemo(() => {
    const b = new LogBuffer();
    if (data.data !== null) b.pushAll(data.data.lines);
    return b;
  }, [data.data]);
  useEffect(() => {
    document.title = `${room} session · Studio`;
  }, [room]);

  const s = data.data?.session;
  const services = s?.services ?? [...new Map((data.data?.lines ?? []).map((l) => [l.service_id, { id: l.service_id, name: l.service_name }])).values()];
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <p className="crumbs"><Link to="/rooms">Rooms</Link> / <Link to={`/rooms/${encodeURIComponent(room)}`}>{room}</Link> /</p>
          <h1>Session <span className="mono">{id}</span></h1>
          {s && (
            <p className="muted">
              {dateTime(s.created_at)} → {s.ended_at ? dateTime(s.ended_at) : "still live"}
              {s.ended_at ? ` · lasted ${duration(Date.parse(s.ended_at) - Date.parse(s.created_at))}` : ""}
              {s.end_reason ? ` · ended: ${s.end_reason.replaceAll("_", " ")}` : ""}
            </p>
          )}
        </div>
      </header>
      {data.error !== null && <p role="alert" className="error">{data.error}</p>}
      {data.data !== null && (
        <div className="session-grid">
          <section className="panel" role="region" aria-label="Participants">
            <h2>Participants</h2>
            {(s?.participants_detail ?? []).length === 0 ? <p className="empty">No participants were recorded.</p> : (
              <table className="grid-table">
                <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Joined</th><th scope="col">Left</th></tr></thead>
                <tbody>
                  {s!.participants_detail!.map((p) => (
                    <tr key={p.id}><td>{p.name}</td><td>{p.role}</td><td>{dateTime(p.joined_at)}</td><td>{dateTime(p.left_at)}</td></tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section className="panel" role="region" aria-label="Events">
            <h2>Timeline</h2>
            <Timeline events={data.data.events} start={s?.created_at ?? null} end={s?.ended_at ?? s?.created_at ?? null} />
          </section>
          <section className="panel" role="region" aria-label="Logs">
            <h2>Logs kept for this session</h2>
            <LogViewer buffer={buffer} services={services} fileName={`${room}-${id}-logs.txt`} />
          </section>
        </div>
      )}
    </div>
  );
}
