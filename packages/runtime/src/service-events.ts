/**
 * A service's event list, kept the way Kubernetes keeps Events: de-duplicated by type + reason
 * + message (a repeat bumps `count` and `last_timestamp`), so a crash loop stays readable, and
 * bounded to the newest MAX_SERVICE_EVENTS. Shared by the ServiceSupervisor (docker, sandbox)
 * and the Pod runtime's services.
 */
import type { EventReason, ServiceEvent } from "./types.ts";

export const MAX_SERVICE_EVENTS = 100;
const WARNING_REASONS: ReadonlySet<EventReason> = new Set(["Unhealthy", "BackOff", "OOMKilled", "FailedStart"]);

/**
 * Records one occurrence in `events` (mutated in place) and returns the event as stored.
 * `type` defaults to Warning for Unhealthy, BackOff, OOMKilled and FailedStart; `now` is the
 * injected clock's reading (ms since the epoch).
 */
export function recordServiceEvent(events: ServiceEvent[], reason: EventReason, message: string, now: number, type?: "Normal" | "Warning"): ServiceEvent {
  const t = type ?? (WARNING_REASONS.has(reason) ? "Warning" : "Normal");
  let e = events.find((x) => x.reason === reason && x.message === message && x.type === t);
  if (e !== undefined) {
    e.count++;
    e.last_timestamp = now;
  } else {
    e = { type: t, reason, message, count: 1, first_timestamp: now, last_timestamp: now };
    events.push(e);
    if (events.length > MAX_SERVICE_EVENTS) events.shift();
  }
  return e;
}
