import { useEffect, useState } from "react";
import type { RoomClient, RoomMessageEvent } from "@meshagent/meshagent";
import { applyTaskMessage, eta, TASK_MESSAGE_TYPES, type Task } from "../task-progress.ts";
import { bytes } from "./StatsChart.tsx";

/**
 * The room's running work as progress bars: `progress` / `row_error` / `done` / `failed`
 * messages (examples/pipeline's shapes, see task-progress.ts) that services broadcast to the
 * room, as the joined client receives them. Renders nothing until the first one arrives.
 */
export function TaskProgress({ client }: { client: RoomClient | null }) {
  const [tasks, setTasks] = useState<ReadonlyMap<string, Task>>(new Map());
  useEffect(() => {
    if (client === null) return;
    const on = (e: RoomMessageEvent) => {
      const m = e.message;
      if (!TASK_MESSAGE_TYPES.has(m.type) || m.local) return;
      const p = client.messaging.getParticipant(m.fromParticipantId);
      const name = p?.getAttribute("name");
      const from = typeof name === "string" ? name : m.fromParticipantId;
      setTasks((ts) => applyTaskMessage(ts, m.type, m.message, from, Date.now()));
    };
    client.messaging.on("message", on);
    return () => client.messaging.off("message", on);
  }, [client]);

  if (tasks.size === 0) return null;
  const list = [...tasks.values()].sort((a, b) => b.updatedAt - a.updatedAt);
  return (
    <section className="panel tasks-panel" role="region" aria-label="Progress">
      <h2>Progress</h2>
      <ul className="tasks">{list.map((t) => <TaskRow key={t.file} t={t} />)}</ul>
    </section>
  );
}

function TaskRow({ t }: { t: Task }) {
  const tone = t.state === "done" ? "ok" : t.state === "failed" ? "bad" : "busy";
  const size = t.totalBytes === null ? bytes(t.bytes) : `${bytes(t.bytes)} of ${bytes(t.totalBytes)}`;
  const rate = t.state === "running" && t.bytesPerSecond !== null ? ` · ${bytes(t.bytesPerSecond)}/s` : "";
  const left = t.state === "running" ? (t.etaSeconds === null ? " · estimating time left" : ` · ${eta(t.etaSeconds)} left`) : "";
  return (
    <li className={`task tone-${tone}`} aria-label={t.file}>
      <div className="task-head">
        <strong className="mono">{t.file}</strong>
        <span className={`badge tone-${tone}`}>{t.state}</span>
        <span className="muted small">by {t.from}</span>
      </div>
      <div className="bar" role="progressbar" aria-label={`${t.file} progress`} aria-valuemin={0} aria-valuemax={100} aria-valuenow={t.percent} aria-valuetext={`${t.percent.toFixed(1)} %`}>
        <div className="bar-fill" style={{ width: `${t.percent}%` }} />
      </div>
      {(t.state !== "failed" || t.bytes > 0) && <p className="small task-figures">
        {t.percent.toFixed(1)} % · {t.rows.toLocaleString("en-US")} rows · {size}{rate}{left}
        {t.malformedRows > 0 && <> · <span className="error">{t.malformedRows.toLocaleString("en-US")} malformed</span></>}
      </p>}
      {t.state === "done" && (
        <p className="small">Done in {t.seconds === null ? "?" : `${t.seconds.toFixed(1)} s`}{t.outputs.length > 0 && <> → {t.outputs.map((o) => <span key={o} className="mono">{o} </span>)}</>}</p>
      )}
      {t.state === "failed" && <p className="small error" role="alert">Failed: {t.error}</p>}
      {t.rowErrors.length > 0 && (
        <details className="row-errors">
          <summary className="small">Row errors ({t.malformedRows > t.rowErrors.length ? `last ${t.rowErrors.length} of ${t.malformedRows}` : t.rowErrors.length})</summary>
          <ul aria-label={`${t.file} row errors`}>
            {t.rowErrors.map((r, i) => <li key={i} className="small"><span className="mono">line {r.line ?? "?"}</span>: {r.message}</li>)}
          </ul>
        </details>
      )}
    </li>
  );
}
