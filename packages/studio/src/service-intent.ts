import type { ServiceState } from "./types.ts";

/**
 * A Restart or Stop the user asked for and the service has not finished yet. The label is
 * derived from the service's live state on every render, never kept as text: the stream can
 * report the outcome before the POST even answers (a fast stop), and a stored "Stopping…" then
 * outlived the `stopped` it announced.
 */
export type Intent = { kind: "none" } | { kind: "sent" | "accepted"; what: "restart" | "stop"; was: StartMark };

/** What changes when the service is started again. */
export interface StartMark {
  containerId: string | null;
  startedAt: string | null;
  /** The newest event (reason, last time, count): a start that fails has no container, but records one. */
  lastEvent: string;
}

export function startMark(s: ServiceState): StartMark {
  const e = s.events[s.events.length - 1];
  return { containerId: s.container_id, startedAt: s.started_at, lastEvent: `${e?.reason}|${e?.last_timestamp}|${e?.count}` };
}

/** Whether the service was started again since `was`: a new container, or a start that left none. */
function startedAgain(was: StartMark, s: ServiceState): boolean {
  const now = startMark(s);
  if (now.containerId !== null) return now.containerId !== was.containerId || now.startedAt !== was.startedAt;
  return now.lastEvent !== was.lastEvent;
}

/** States in which a stop is over (the container is gone or never ran). */
const STOP_DONE = new Set(["stopped", "exited", "failed"]);
/** States a restarted container settles in. */
const SETTLED = new Set(["ready", "unhealthy", "backoff", "failed", "exited", "stopped"]);

/** Whether the intent is fulfilled by state `s` (or cannot be any more: no live session). */
function intentDone(i: Intent, s: ServiceState, sessionLive: boolean): boolean {
  if (i.kind === "none") return true;
  if (!sessionLive) return true;
  if (i.what === "stop") return STOP_DONE.has(s.state);
  // A restart is over once the service was started again and has settled.
  return SETTLED.has(s.state) && startedAgain(i.was, s);
}

/** The in-progress label for an intent not yet fulfilled, else null. */
export function intentLabel(i: Intent, s: ServiceState, sessionLive: boolean): string | null {
  if (intentDone(i, s, sessionLive) || i.kind === "none") return null;
  return i.what === "restart" ? "Restarting with the latest version…" : "Stopping…";
}

