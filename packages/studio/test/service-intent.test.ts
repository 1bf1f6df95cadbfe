/**
 * The service card's in-progress labels (src/service-intent.ts) are derived from the live
 * state: "Stopping…" never outlives `stopped` (also when the state arrives before the POST
 * answers), "Restarting…" lasts until a new start has settled, and nothing is shown once the
 * session is gone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { intentLabel, startMark, type Intent } from "../src/service-intent.ts";
import type { ServiceState } from "../src/types.ts";

function state(over: Partial<ServiceState> = {}): ServiceState {
  return {
    service_id: "s1", name: "web", image: "x", scope: "room", state: "ready", restart_count: 0,
    started_at: "2026-01-01T00:00:00.000Z", last_exit: null, last_start_error: null, container_id: "c1", ports: [],
    events: [{ type: "Normal", reason: "Ready", message: "", count: 1, first_timestamp: "t0", last_timestamp: "t0" }],
    ...over,
  };
}

const intent = (what: "restart" | "stop", s: ServiceState, kind: "sent" | "accepted" = "accepted"): Intent => ({ kind, what, was: startMark(s) });

test("Stopping… shows while the service stops and never once it is stopped (whenever the POST answers)", () => {
  const ready = state();
  const i = intent("stop", ready, "sent");
  const accepted = intent("stop", ready, "accepted");
  assert.equal(intentLabel(i, ready, true), "Stopping…");
  assert.equal(intentLabel(i, state({ state: "stopping" }), true), "Stopping…");
  // The stream said `stopped` before the POST answered: the accepted intent shows nothing.
  const stopped = state({ state: "stopped", container_id: null });
  assert.equal(intentLabel(i, stopped, true), null);
  assert.equal(intentLabel(accepted, stopped, true), null);
  for (const st of ["exited", "failed"] as const) assert.equal(intentLabel(i, state({ state: st }), true), null);
  assert.equal(intentLabel(i, ready, false), null, "no session: nothing is in progress");
  assert.equal(intentLabel({ kind: "none" }, ready, true), null);
});

test("Restarting… lasts until a new start has settled: a new container ready, or a failed start", () => {
  const ready = state();
  const i = intent("restart", ready);
  const label = "Restarting with the latest version…";
  assert.equal(intentLabel(i, ready, true), label, "the old container, still ready: not restarted yet");
  const killing = state({ state: "stopping", events: [...ready.events, { type: "Normal", reason: "Killing", message: "", count: 1, first_timestamp: "t1", last_timestamp: "t1" }] });
  assert.equal(intentLabel(i, killing, true), label);
  assert.equal(intentLabel(i, state({ state: "starting", container_id: "c2" }), true), label);
  assert.equal(intentLabel(i, state({ state: "ready", container_id: "c2" }), true), null);
  assert.equal(intentLabel(i, state({ state: "backoff", container_id: "c2" }), true), null);
  // The same container started again (a runtime that restarts in place).
  assert.equal(intentLabel(i, state({ started_at: "2026-01-01T00:01:00.000Z" }), true), null);
  // A start that failed leaves no container, but an event.
  const failed = state({ state: "failed", container_id: null, started_at: null, events: [...ready.events, { type: "Warning", reason: "FailedStart", message: "no image", count: 1, first_timestamp: "t2", last_timestamp: "t2" }] });
  assert.equal(intentLabel(i, failed, true), null);
  // Restarting a stopped service: done when it runs again.
  const stopped = state({ state: "stopped", container_id: null, started_at: null });
  const j = intent("restart", stopped);
  assert.equal(intentLabel(j, stopped, true), label);
  assert.equal(intentLabel(j, state({ container_id: "c3" }), true), null);
});
