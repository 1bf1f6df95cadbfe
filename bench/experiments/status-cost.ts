/**
 * NOT PART OF THE SUITE. What one service state change and one status() read cost the server,
 * with the runtime's state cloned whole (structuredClone, events included — the code before
 * perf round 3) against the frozen event snapshots that replaced it (ServiceEventLog, the
 * converted list cached per snapshot in Activity). Same process, same state, alternating
 * rounds; the real ServiceEventLog, serviceStateJson and studioEvents.
 *
 *   node bench/experiments/status-cost.ts
 *
 * A state change, as the server handles it: the runtime builds status() for its listeners;
 * Activity turns it into Studio's ServiceState and JSON for the room's streams (when a stream
 * or the resume buffer follows the session — a live session's always does). A read: status()
 * for the REST API, services.list, the stats poller (every 2 s per service) or a snapshot.
 */
import { ServiceEventLog } from "../../packages/runtime/src/service-events.ts";
import type { ServiceRuntimeState } from "../../packages/runtime/src/types.ts";
import { serviceStateJson, studioEvents } from "../../packages/server/src/services/service-state.ts";
import type { ServiceRecord } from "../../packages/server/src/services/service-store.ts";
import type { ServiceState } from "@roomservice/protocol";

const rec = {
  id: "svc-1", project: "default", room: "r", name: "web", version: 1, createdAt: 0, updatedAt: 0,
  spec: { container: { image: "examples/http-echo:1" }, ports: [{ num: 8080, type: "http", liveness: "/healthz" }] },
} as unknown as ServiceRecord;

function state(k: number): { base: Omit<ServiceRuntimeState, "events">; log: ServiceEventLog; mutable: ServiceRuntimeState["events"] } {
  const log = new ServiceEventLog();
  const now = Date.now();
  const reasons = ["Created", "Started", "Ready", "Exited", "BackOff", "Unhealthy"] as const;
  for (let i = 0; i < k; i++) log.record(reasons[i % reasons.length]!, `event ${i}: Back-off ${100 * i}ms restarting container (exit code ${i % 3})`, now + i);
  const base: Omit<ServiceRuntimeState, "events"> = {
    service_id: "svc-1", state: "running", container_id: "c0ffee".repeat(10), started_at: now, restart_count: k, restart_scheduled_at: null,
    last_exit_code: 1, last_exit_at: now, last_start_error: null,
    ports: [{ num: 8080, liveness_status: "ready", last_checked_at: now, last_error: null }],
  };
  return { base, log, mutable: log.list.map((e) => ({ ...e })) };
}

function time(n: number, fn: () => unknown): number {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink += (fn() as { length?: number }).length ?? 1;
  const ns = Number(process.hrtime.bigint() - t0);
  if (sink === -1) console.log(sink);
  return ns / n / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log("events | state change: clone / snapshot (µs) | ratio | status() read: clone / snapshot (µs) | ratio");
for (const k of [5, 20, 100]) {
  const { base, log, mutable } = state(k);
  const cache = new WeakMap<ServiceRuntimeState["events"], ServiceState["events"]>();
  const oldStatus = (): ServiceRuntimeState => structuredClone({ ...base, ports: base.ports, events: mutable });
  const newStatus = (): ServiceRuntimeState => ({ ...base, ports: base.ports.map((p) => ({ ...p })), events: log.list });
  const oldChange = () => JSON.stringify(serviceStateJson(rec, oldStatus(), null));
  const newChange = () => {
    const st = newStatus();
    let ev = cache.get(st.events);
    if (ev === undefined) cache.set(st.events, (ev = studioEvents(st.events)));
    return JSON.stringify(serviceStateJson(rec, st, null, ev));
  };
  if (oldChange() !== newChange()) throw new Error("the two paths disagree on the JSON the streams get");
  const n = k >= 100 ? 4000 : 20000;
  const r = { oc: [] as number[], nc: [] as number[], or: [] as number[], nr: [] as number[] };
  for (let round = 0; round < 7; round++) {
    const pairs: [number[], () => unknown][] = [[r.oc, oldChange], [r.nc, newChange], [r.or, oldStatus], [r.nr, newStatus]];
    if (round % 2 === 1) pairs.reverse();
    for (const [into, fn] of pairs) into.push(time(n, fn));
  }
  const [oc, nc, or, nr] = [median(r.oc), median(r.nc), median(r.or), median(r.nr)];
  console.log(`${String(k).padStart(6)} | ${oc.toFixed(2)} / ${nc.toFixed(2)} | ${(nc / oc).toFixed(2)}× | ${or.toFixed(2)} / ${nr.toFixed(3)} | ${(nr / or).toFixed(3)}×`);
}
