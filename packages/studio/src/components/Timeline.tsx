import { useEffect, useState } from "react";
import type { StudioEvent } from "../types.ts";

const WARNING_REASONS = new Set(["Unhealthy", "BackOff", "OOMKilled", "FailedStart", "ProbeFailed"]);

function laneOf(e: StudioEvent): string {
  if (e.kind === "session") return "Session";
  if (e.kind === "participant") return "Participants";
  return e.service_name ?? e.service_id ?? "service";
}

function clock(t: number): string {
  return new Date(t).toLocaleTimeString([], { hour12: false });
}

/**
 * One room session as a single story: session, participants and every service's container
 * events on one time axis (one lane each), with the full list below for reading and for
 * assistive technology. `end` null means the session is live (the axis grows with time).
 */
export function Timeline({ events, start, end }: { events: StudioEvent[]; start: string | null; end: string | null }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (end !== null) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [end]);

  if (events.length === 0) return <p className="empty">No events yet. They appear here as the session runs.</p>;
  const times = events.map((e) => Date.parse(e.at));
  const t0 = Math.min(start !== null ? Date.parse(start) : Infinity, ...times);
  // At least 10 s wide: the five tick labels (whole seconds) then all differ.
  const t1 = Math.max(end !== null ? Date.parse(end) : now, ...times, t0 + 10_000);
  const pct = (t: number) => ((t - t0) / (t1 - t0)) * 100;
  const lanes: string[] = ["Session", "Participants"];
  for (const e of events) {
    const l = laneOf(e);
    if (!lanes.includes(l)) lanes.push(l);
  }
  const ticks = Array.from({ length: 5 }, (_, i) => t0 + ((t1 - t0) * i) / 4);
  const shown = events.slice(-300);

  return (
    <div className="timeline">
      <div className="axis-chart" aria-hidden="true">
        {lanes.map((lane) => (
          <div className="lane" key={lane}>
            <div className="lane-name" title={lane}>{lane}</div>
            <div className="lane-track">
              {events.filter((e) => laneOf(e) === lane).map((e) => (
                <span
                  key={e.seq}
                  className={`mark ${e.type === "Warning" || WARNING_REASONS.has(e.reason) ? "warn" : ""} r-${e.reason}`}
                  style={{ left: `${pct(Date.parse(e.at))}%` }}
                  title={`${clock(Date.parse(e.at))} ${e.reason}: ${e.message}`}
                />
              ))}
            </div>
          </div>
        ))}
        <div className="lane ticks">
          <div className="lane-name" />
          <div className="lane-track">
            {ticks.map((t, i) => <span key={i} className="tick" style={{ left: `${pct(t)}%` }}>{clock(t)}</span>)}
          </div>
        </div>
      </div>
      <table className="events">
        <caption className="sr-only">Events, oldest first</caption>
        <thead>
          <tr><th scope="col">Time</th><th scope="col">Source</th><th scope="col">Reason</th><th scope="col">Message</th></tr>
        </thead>
        <tbody>
          {shown.map((e) => (
            <tr key={e.seq} className={e.type === "Warning" ? "warn" : ""}>
              <td><time dateTime={e.at}>{clock(Date.parse(e.at))}</time></td>
              <td>{laneOf(e)}</td>
              <td><span className={`reason ${e.type === "Warning" ? "warn" : ""}`}>{e.reason}</span></td>
              <td className="msg">{e.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length > shown.length && <p className="muted small">Showing the latest {shown.length} of {events.length} events.</p>}
    </div>
  );
}
