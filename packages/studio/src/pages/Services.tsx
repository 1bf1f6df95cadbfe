import { useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useApi } from "../App.tsx";
import { errorText } from "../api.ts";
import { dateTime, useLoad } from "../hooks.ts";
import { manifestOfRecord } from "../manifest-form.ts";
import type { ServiceRecord } from "../types.ts";

/** `/services` (project services) and `/rooms/{room}/services` (that room's own services). */
export function ServicesPage() {
  const { room } = useParams() as { room?: string };
  const api = useApi();
  const scope = room === undefined ? api.project("") : api.room(room);
  const base = room === undefined ? "/services" : `/rooms/${encodeURIComponent(room)}/services`;
  const list = useLoad(async () => (await api.get<{ services: ServiceRecord[] }>(`${scope}/services`)).services, [api, scope]);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    document.title = `${room === undefined ? "Services" : `${room} services`} · Studio`;
  }, [room]);

  const toggle = async (s: ServiceRecord) => {
    setProblem(null);
    const m = manifestOfRecord(s);
    const enable = s.enabled === false;
    if (enable) delete m.enabled;
    else m.enabled = false;
    try {
      await api.put(`${scope}/services/${encodeURIComponent(s.id)}`, m);
      setNote(`${s.metadata.name} ${enable ? "enabled" : "disabled"}; this applies at the next session.`);
      list.reload();
    } catch (err) {
      setNote(null);
      setProblem(errorText(err));
    }
  };
  const remove = async (s: ServiceRecord) => {
    setProblem(null);
    setConfirm(null);
    try {
      await api.delete(`${scope}/services/${encodeURIComponent(s.id)}`);
      setNote(`${s.metadata.name} deleted. A running copy stops when its session ends.`);
      list.reload();
    } catch (err) {
      setNote(null);
      setProblem(errorText(err));
    }
  };

  return (
    <div className="page">
      <header className="page-head">
        <div>
          {room !== undefined && <p className="crumbs"><Link to="/rooms">Rooms</Link> / <Link to={`/rooms/${encodeURIComponent(room)}`}>{room}</Link> /</p>}
          <h1>{room === undefined ? "Project services" : `Services of ${room}`}</h1>
          <p className="muted">
            {room === undefined
              ? "Project services run in every room. Room services are listed on each room's services page."
              : "These run only in this room, next to the project's services."}{" "}
            Changes apply at the next session.
          </p>
        </div>
        <Link className="button primary" to={`${base}/new`}>Add service</Link>
      </header>
      {note !== null && <div className="notice ok" role="status"><p>{note}</p></div>}
      {problem !== null && <div className="notice bad" role="alert"><p>{problem}</p></div>}
      {list.error !== null && <p role="alert" className="error">{list.error}</p>}
      <section className="panel" aria-label="Service list">
        {list.data !== null && list.data.length === 0 && <p className="empty">No services yet. <Link to={`${base}/new`}>Add the first one.</Link></p>}
        {list.data !== null && list.data.length > 0 && (
          <table className="grid-table">
            <thead><tr><th scope="col">Name</th><th scope="col">Image</th><th scope="col">Status</th><th scope="col">Revision</th><th scope="col">Updated</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((s) => (
                <tr key={s.id}>
                  <td>
                    <Link to={`${base}/${encodeURIComponent(s.id)}`}>{s.metadata.name}</Link>
                    {(s.warnings ?? []).map((w) => <p key={w.path} className="small warning-text" role="note">{w.path}: {w.message}</p>)}
                  </td>
                  <td className="mono small">{s.container.image}</td>
                  <td><span className={`badge tone-${s.enabled === false ? "idle" : "ok"}`}>{s.enabled === false ? "disabled" : "enabled"}</span></td>
                  <td>rev {s.revision}</td>
                  <td>{dateTime(s.updated_at)}</td>
                  <td className="actions">
                    <button type="button" onClick={() => toggle(s)} aria-label={`${s.enabled === false ? "Enable" : "Disable"} ${s.metadata.name}`}>{s.enabled === false ? "Enable" : "Disable"}</button>
                    {confirm === s.id ? (
                      <span role="group" aria-label={`Confirm deleting ${s.metadata.name}`}>
                        <button type="button" className="danger" onClick={() => remove(s)}>Delete {s.metadata.name}</button>
                        <button type="button" onClick={() => setConfirm(null)}>Cancel</button>
                      </span>
                    ) : (
                      <button type="button" onClick={() => setConfirm(s.id)} aria-label={`Delete ${s.metadata.name}…`}>Delete</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
