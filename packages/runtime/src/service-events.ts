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
 * The list as immutable snapshots: every change makes a new frozen array (a repeat replaces
 * its one event with a new frozen copy), so `list` is handed to every status() reader and
 * state listener without cloning, and a snapshot never changes under its holder. A change
 * costs one copy of at most MAX_SERVICE_EVENTS pointers; a read costs nothing. (status() used
 * to structuredClone the whole list on every state change and every read.)
 */
export class ServiceEventLog {
  private current: readonly ServiceEvent[] = Object.freeze([]);

  /** The events now, oldest first; frozen, and never mutated afterwards. */
  get list(): readonly ServiceEvent[] {
    return this.current;
  }

  /**
   * Records one occurrence and returns the event as stored (frozen). `type` defaults to
   * Warning for Unhealthy, BackOff, OOMKilled and FailedStart; `now` is the injected clock's
   * reading (ms since the epoch).
   */
  record(reason: EventReason, message: string, now: number, type?: "Normal" | "Warning"): ServiceEvent {
    const t = type ?? (WARNING_REASONS.has(reason) ? "Warning" : "Normal");
    const i = this.current.findIndex((x) => x.reason === reason && x.message === message && x.type === t);
    const next = this.current.slice();
    let e: ServiceEvent;
    if (i >= 0) {
      const old = next[i]!;
      e = Object.freeze({ ...old, count: old.count + 1, last_timestamp: now });
      next[i] = e;
    } else {
      e = Object.freeze({ type: t, reason, message, count: 1, first_timestamp: now, last_timestamp: now });
      next.push(e);
      if (next.length > MAX_SERVICE_EVENTS) next.shift();
    }
    this.current = Object.freeze(next);
    return e;
  }
}
