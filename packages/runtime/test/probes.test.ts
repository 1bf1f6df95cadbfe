/**
 * Probe timing before the first success, on a fake clock (no sleeping): the waits back off
 * from startIntervalMs to START_BACKOFF_MAX_MS, a nudge (an output line, a Room API
 * connection) makes a waiting probe check at once but never sooner than startIntervalMs after
 * the last check, and the failure budget stays failureThreshold × periodMs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProbeSet, START_BACKOFF_MAX_MS, startPhaseDelay, type CheckResult } from "../src/probes.ts";
import type { Probe } from "../src/index.ts";
import { FakeClock, settle } from "./fake-driver.ts";

const tcp = (over: Partial<Probe> = {}): Probe => ({
  action: { kind: "tcp", port: 9100 }, initialDelayMs: 0, periodMs: 10_000, startIntervalMs: 20, timeoutMs: 1000, failureThreshold: 3, successThreshold: 1, ...over,
});

/** A ProbeSet with one startup probe whose checks are recorded (clock time) and answered by `answer`. */
function startupSet(probe: Probe, clock: FakeClock) {
  const checks: number[] = [];
  let listening = false;
  const events: string[] = [];
  const set = new ProbeSet(
    { ports: [], probes: { startup: probe } },
    async (): Promise<CheckResult> => {
      checks.push(clock.now());
      return listening ? { ok: true } : { ok: false, error: "ECONNREFUSED" };
    },
    { changed: () => events.push("changed"), kill: (m) => events.push(`kill: ${m}`), unhealthy: (m) => events.push(`unhealthy: ${m}`), now: () => clock.now() },
    {
      wait: (ms, signal) => new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const cancel = clock.setTimer(resolve, ms);
        signal.addEventListener("abort", () => { cancel(); resolve(); }, { once: true });
      }),
    },
  );
  return { set, checks, events, listen: () => (listening = true) };
}

test("startPhaseDelay doubles from startIntervalMs up to START_BACKOFF_MAX_MS, or periodMs when shorter", () => {
  assert.equal(START_BACKOFF_MAX_MS, 500);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map((n) => startPhaseDelay({ startIntervalMs: 20, periodMs: 10_000 }, n)), [20, 40, 80, 160, 320, 500, 500, 500]);
  assert.deepEqual([1, 2, 3, 4].map((n) => startPhaseDelay({ startIntervalMs: 100, periodMs: 300 }, n)), [100, 200, 300, 300]);
  // A start interval above the cap is kept as it is; none at all means every wait is periodMs.
  assert.deepEqual([1, 2].map((n) => startPhaseDelay({ startIntervalMs: 800, periodMs: 10_000 }, n)), [800, 800]);
  assert.deepEqual([1, 2].map((n) => startPhaseDelay({ startIntervalMs: 0, periodMs: 2000 }, n)), [2000, 2000]);
});

test("before the first success the checks back off: 20, 40, 80 … 500 ms apart", async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const { set, checks } = startupSet(tcp(), clock);
  set.start();
  await clock.advance(3000);
  const gaps = checks.slice(1).map((t, i) => t - checks[i]!);
  assert.equal(checks[0], t0);
  assert.deepEqual(gaps.slice(0, 8), [20, 40, 80, 160, 320, 500, 500, 500]);
  assert.ok(checks.length < 15, `${checks.length} checks in 3 s (every 20 ms would be 150)`);
  set.stop();
});

test("a nudge makes a waiting probe check at once, but never sooner than startIntervalMs after the last check", async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const { set, checks, events, listen } = startupSet(tcp(), clock);
  set.start();
  await clock.advance(700); // checks at 0, 20, 60, 140, 300, 620; the next is due at 1120
  assert.deepEqual(checks.map((t) => t - t0), [0, 20, 60, 140, 300, 620]);
  listen();
  set.nudge();
  await settle();
  assert.deepEqual(checks.map((t) => t - t0), [0, 20, 60, 140, 300, 620, 700], "checked at the nudge");
  assert.deepEqual(events, ["changed"], "startup passed");
  set.stop();

  // A nudge right after a check waits out the start interval first; a burst of nudges is one check.
  const c2 = new FakeClock();
  const s0 = c2.now();
  const second = startupSet(tcp(), c2);
  second.set.start();
  await c2.advance(60); // checks at 0, 20, 60
  for (let i = 0; i < 10; i++) second.set.nudge();
  await c2.advance(10);
  assert.deepEqual(second.checks.map((t) => t - s0), [0, 20, 60], "not before 60 + 20");
  await c2.advance(10);
  assert.deepEqual(second.checks.map((t) => t - s0), [0, 20, 60, 80], "one check for the burst, at 60 + 20");
  await c2.advance(100);
  assert.deepEqual(second.checks.map((t) => t - s0), [0, 20, 60, 80], "then the backoff goes on (160 ms after 80)");
  second.set.stop();
});

test("a nudge during a check is not lost: the next check follows after startIntervalMs", async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const checks: number[] = [];
  let set!: ProbeSet;
  set = new ProbeSet(
    { ports: [], probes: { startup: tcp() } },
    async (): Promise<CheckResult> => {
      checks.push(clock.now());
      if (checks.length === 4) set.nudge(); // the service printed while this check ran
      return { ok: false, error: "ECONNREFUSED" };
    },
    { changed() {}, kill() {}, unhealthy() {}, now: () => clock.now() },
    { wait: (ms, signal) => new Promise<void>((resolve) => { const cancel = clock.setTimer(resolve, ms); signal.addEventListener("abort", () => { cancel(); resolve(); }, { once: true }); }) },
  );
  set.start();
  await clock.advance(400);
  // 0, 20, 60, 140 (nudged during it) → 160 instead of 140 + 160 = 300; then 160 + 320.
  assert.deepEqual(checks.map((t) => t - t0), [0, 20, 60, 140, 160]);
  set.stop();
});

test("the failure budget before the first success is still failureThreshold × periodMs", async () => {
  const clock = new FakeClock();
  const { set, events } = startupSet(tcp({ periodMs: 1000, failureThreshold: 3 }), clock);
  set.start();
  await clock.advance(2900);
  assert.deepEqual(events, [], "no verdict before 3 × 1 s");
  await clock.advance(700);
  assert.deepEqual(events, ["unhealthy: Startup probe failed: ECONNREFUSED", "kill: Container failed startup probe, will be restarted"]);
  set.stop();
});
