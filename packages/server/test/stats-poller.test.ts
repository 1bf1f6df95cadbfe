/**
 * The stats poller asks the runtime only about services that run: not about pending ones, and
 * not about ones that only just started (a room start is CPU-bound) — but a service stuck
 * starting for STATS_STARTING_GRACE_MS is sampled again. Fake clock and runtime: no sleeping.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { StatsPoller, STATS_STARTING_GRACE_MS } from "../src/services/stats-poller.ts";
import type { Clock } from "../src/config.ts";
import type { Runtime, ServiceHandle, ServiceStateJson } from "../src/services/runtime-port.ts";

class ManualClock implements Clock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void }[] = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== timer)) };
  }
  async advance(ms: number): Promise<void> {
    this.t += ms;
    for (const due of this.timers.filter((x) => x.at <= this.t)) {
      this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  }
}

function handle(st: Partial<ServiceStateJson>): ServiceHandle {
  return { status: () => ({ container_id: "c", started_at: null, state: "pending", ...st }) } as unknown as ServiceHandle;
}

test("stats are polled for running services and for ones stuck starting, not for ones just started", async () => {
  const clock = new ManualClock();
  const asked: string[] = [];
  const runtime = { stats: async (id: string) => (asked.push(id), { cpuPercent: 1, memoryBytes: 2, memoryLimitBytes: null }) } as unknown as Runtime;
  const targets = [
    { record: { id: "running" }, handle: handle({ container_id: "run", state: "running", started_at: clock.now() }) },
    { record: { id: "fresh" }, handle: handle({ container_id: "fresh", state: "starting", started_at: clock.now() }) },
    { record: { id: "stuck" }, handle: handle({ container_id: "stuck", state: "starting", started_at: clock.now() - STATS_STARTING_GRACE_MS }) },
    { record: { id: "pending" }, handle: handle({ container_id: null, state: "pending" }) },
    { record: { id: "none" }, handle: null },
  ];
  const samples: string[] = [];
  const poller = new StatsPoller({ clock, intervalMs: 2000, runtime, log: pino({ level: "silent" }), targets: () => targets, sample: (t) => samples.push(t.record.id) });
  poller.start();
  await clock.advance(2000);
  assert.deepEqual(asked, ["run", "stuck"]);
  assert.deepEqual(samples, ["running", "stuck"]);
  // Once the fresh one has been starting for the grace period, it is sampled too.
  await clock.advance(STATS_STARTING_GRACE_MS);
  assert.deepEqual(asked.slice(2), ["run", "fresh", "stuck"]);
  poller.stop();
});
