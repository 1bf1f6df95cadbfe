import type { ServiceState, StudioServiceStateName } from "@roomservice/protocol";
import { iso } from "@roomservice/protocol";
import type { ServiceStateJson, StopResult } from "./runtime-port.ts";
import type { ServiceRecord } from "./service-store.ts";

/** The runtime calls a ready service "running" (MeshAgent's name); Studio says "ready". */
function stateName(s: ServiceStateJson["state"]): StudioServiceStateName {
  return s === "running" ? "ready" : s;
}

const portsOf = (spec: Record<string, unknown>): { num: number; type: string; liveness: boolean }[] =>
  Array.isArray(spec.ports)
    ? (spec.ports as { num?: unknown; type?: unknown; liveness?: unknown }[]).map((p) => ({
        num: Number(p.num), type: typeof p.type === "string" ? p.type : "http", liveness: typeof p.liveness === "string" && p.liveness !== "",
      }))
    : [];

/** A runtime event list as Studio shows it (times as ISO strings). */
export function studioEvents(events: ServiceStateJson["events"]): ServiceState["events"] {
  return events.map((e) => ({
    type: e.type, reason: e.reason, message: e.message, count: e.count, first_timestamp: iso(e.first_timestamp), last_timestamp: iso(e.last_timestamp),
  }));
}

/**
 * A service's state as Studio shows it (docs/studio-api.md `ServiceState`): the manifest's
 * name, image and ports joined with the runtime's state, times as ISO strings. `events`: the
 * list already converted (callers cache it per runtime snapshot; shared, never mutated).
 */
export function serviceStateJson(rec: ServiceRecord, st: ServiceStateJson, lastExit: StopResult | null, events?: ServiceState["events"]): ServiceState {
  const declared = portsOf(rec.spec);
  const container = (rec.spec.container ?? {}) as { image?: unknown };
  return {
    service_id: rec.id,
    name: rec.name,
    image: typeof container.image === "string" ? container.image : "",
    scope: rec.room === null ? "project" : "room",
    state: stateName(st.state),
    enabled: rec.spec.enabled !== false,
    restart_count: st.restart_count,
    started_at: st.started_at === null ? null : iso(st.started_at),
    last_exit: st.last_exit_at === null ? null : { code: st.last_exit_code, reason: lastExit?.reason ?? "exit", at: iso(st.last_exit_at) },
    last_start_error: st.last_start_error,
    container_id: st.container_id,
    ports: declared.map((p) => {
      const live = st.ports.find((x) => x.num === p.num);
      return { num: p.num, type: p.type, liveness_status: live?.liveness_status ?? (p.liveness ? "not_ready" : "not_configured"), last_error: live?.last_error ?? null };
    }),
    events: events ?? studioEvents(st.events),
  };
}
