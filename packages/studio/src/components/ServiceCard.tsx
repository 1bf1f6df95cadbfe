import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { useApi } from "../App.tsx";
import { errorText } from "../api.ts";
import type { ServiceState } from "../types.ts";
import { intentLabel, startMark, type Intent } from "../service-intent.ts";

/** Badge colour family per state. */
export function stateTone(state: string): string {
  switch (state) {
    case "ready": return "ok";
    case "pending": case "starting": case "stopping": return "busy";
    case "unhealthy": case "backoff": return "warn";
    case "failed": case "exited": return "bad";
    default: return "idle";
  }
}

function ago(at: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(at)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

/**
 * A service's live card: state badge (the state name as text), restarts, last exit, ports
 * with liveness, the last start error, and Restart (applies the latest edit now) / Stop.
 */
export function ServiceCard({ room, s, sessionLive }: { room: string; s: ServiceState; sessionLive: boolean }) {
  const api = useApi();
  const [intent, setIntent] = useState<Intent>({ kind: "none" });
  const [error, setError] = useState<string | null>(null);
  const headingId = `svc-${s.service_id}`;
  const label = intentLabel(intent, s, sessionLive);
  // Forget a fulfilled intent, so a later state (the next restart by the supervisor) never
  // brings its label back.
  useEffect(() => {
    if (intent.kind !== "none" && label === null) setIntent({ kind: "none" });
  }, [intent, label]);

  const act = async (what: "restart" | "stop") => {
    const sent: Intent = { kind: "sent", what, was: startMark(s) };
    setIntent(sent);
    setError(null);
    try {
      await api.post(api.room(room, `/services/${encodeURIComponent(s.service_id)}/${what}`));
      // Only the request still in flight becomes accepted: an outcome already seen cleared it.
      setIntent((cur) => (cur === sent ? { ...sent, kind: "accepted" } : cur));
    } catch (err) {
      setIntent({ kind: "none" });
      setError(errorText(err));
    }
  };

  const editHref = s.scope === "room" ? `/rooms/${encodeURIComponent(room)}/services/${encodeURIComponent(s.service_id)}` : `/services/${encodeURIComponent(s.service_id)}`;
  const lastEvent = s.events[s.events.length - 1];
  // A disabled service never starts: the server refuses to restart it, so the card says so
  // instead of a bare "stopped" and a Restart that can only fail.
  const disabled = s.enabled === false;
  const shown = disabled && s.state === "stopped" ? "disabled" : s.state;
  const restartWhy = disabled ? "Disabled in its configuration: enable it (Edit) to run it" : sessionLive ? "Restart now with the latest saved version" : "The room has no live session";
  return (
    <section className={`card service tone-${stateTone(shown)}`} role="region" aria-label={s.name}>
      <header>
        <h3 id={headingId}>{s.name}</h3>
        <span className={`badge tone-${stateTone(shown)}`} data-testid="state">{shown}</span>
      </header>
      <p className="image mono" title={s.image}>{s.image}</p>
      <dl className="facts">
        <div><dt>Restarts</dt><dd>{s.restart_count}</dd></div>
        <div><dt>Last exit</dt><dd>{s.last_exit === null ? "—" : `${s.last_exit.reason === "exit" ? `exit code ${s.last_exit.code}` : s.last_exit.reason === "oom" ? "OOM killed" : `signal${s.last_exit.code === null ? "" : ` (code ${s.last_exit.code})`}`} · ${ago(s.last_exit.at)}`}</dd></div>
        <div><dt>Scope</dt><dd>{s.scope}</dd></div>
      </dl>
      {s.ports.length > 0 && ["starting", "ready", "unhealthy"].includes(s.state) && (
        <ul className="ports" aria-label="Ports">
          {s.ports.map((p) => (
            <li key={p.num} className={`port ${p.liveness_status}`} title={p.last_error ?? undefined}>
              <span className="mono">{p.num}/{p.type}</span>{" "}
              <span>{p.liveness_status === "ready" ? "live" : p.liveness_status === "not_ready" ? "not live" : "no liveness path"}</span>
            </li>
          ))}
        </ul>
      )}
      {s.last_start_error !== null && <p className="error" role="note">{s.last_start_error}</p>}
      {lastEvent !== undefined && s.last_start_error === null && (
        <p className="muted small last-event">{lastEvent.reason}: {lastEvent.message}{lastEvent.count > 1 ? ` (×${lastEvent.count})` : ""}</p>
      )}
      {disabled && <p className="muted small" id={`${headingId}-disabled`}>Disabled in its configuration: sessions do not start it. Enable it with Edit.</p>}
      {label !== null && <p className="small" role="status">{label}</p>}
      {error !== null && <p className="small error" role="alert">{error}</p>}
      <footer>
        <button type="button" onClick={() => act("restart")} disabled={disabled || !sessionLive || intent.kind === "sent"} title={restartWhy}
          aria-describedby={disabled ? `${headingId}-disabled` : undefined}>Restart</button>
        <button type="button" onClick={() => act("stop")} disabled={!sessionLive || intent.kind === "sent" || s.state === "stopped"}>Stop</button>
        <Link className="button ghost" to={editHref} aria-label={`Edit ${s.name}`}>Edit</Link>
      </footer>
    </section>
  );
}
