/**
 * Failure handling: crash loops back off exponentially (capped) with BackOff events; a
 * failing liveness probe restarts the container; a memory hog is reported OOMKilled; a
 * missing image is a FailedStart, never a throw.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setup, spec, waitFor, type TestEnv } from "./helpers.ts";
import type { StopResult } from "../src/index.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

test("a crashing service restarts with growing, capped backoff and BackOff events", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "crash-room", sessionId: "s-crash" });
  try {
    const h = sb.startService(spec("crasher", "crash.js", {
      env: { EXIT_CODE: "3" },
      restart: { policy: "on-failure", initialBackoffMs: 100, maxBackoffMs: 400, resetAfterMs: 60_000 },
    }));
    const delays: number[] = [];
    h.on("state", (s) => {
      if (s.state === "backoff" && s.restart_scheduled_at !== null && s.last_exit_at !== null) delays.push(s.restart_scheduled_at - s.last_exit_at);
    });
    await waitFor("four restarts", () => h.status().restart_count >= 4, 30_000);
    const st = h.status();
    assert.equal(st.last_exit_code, 3);
    assert.deepEqual(delays.slice(0, 5), [100, 200, 400, 400, 400].slice(0, Math.min(5, delays.length)));
    const backoffs = st.events.filter((e) => e.reason === "BackOff");
    assert.deepEqual(backoffs.map((e) => e.message).slice(0, 3), [
      "Back-off 100ms restarting failed container",
      "Back-off 200ms restarting failed container",
      "Back-off 400ms restarting failed container",
    ]);
    assert.ok(backoffs.every((e) => e.type === "Warning"));
    // Deduplicated: the capped delay repeats as one event with a count.
    assert.ok(backoffs[2].count >= 2);
    const exited = st.events.find((e) => e.reason === "Exited");
    assert.equal(exited?.message, "Container exited with code 3");
    assert.ok((exited?.count ?? 0) >= 4);
  } finally {
    await sb.stop();
  }
});

test("exit 0 under on-failure does not restart", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "crash-room", sessionId: "s-clean-exit" });
  try {
    const h = sb.startService(spec("oneshot", "crash.js", { env: { EXIT_CODE: "0" }, restart: { policy: "on-failure", initialBackoffMs: 100, maxBackoffMs: 400, resetAfterMs: 60_000 } }));
    await waitFor("exited", () => h.status().state === "exited");
    assert.equal(h.status().restart_count, 0);
    assert.equal(h.status().last_exit_code, 0);
  } finally {
    await sb.stop();
  }
});

test("a failing liveness probe restarts the container", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "live-room", sessionId: "s-live" });
  try {
    const probe = { action: { kind: "http" as const, port: 9100, path: "/healthz" }, initialDelayMs: 0, periodMs: 200, startIntervalMs: 50, timeoutMs: 500, failureThreshold: 2, successThreshold: 1 };
    // Deterministic under load (issue 12): a startup probe with a generous budget (20 s) holds
    // the liveness probe back until the server listens, so liveness only ever sees the 500s.
    const startup = { ...probe, action: { kind: "tcp" as const, port: 9100 }, failureThreshold: 100 };
    const h = sb.startService(spec("flaky", "http.js", {
      env: { PORT: "9100", FAIL_AFTER_MS: "600" },
      probes: { startup, liveness: probe },
      restart: { policy: "on-failure", initialBackoffMs: 100, maxBackoffMs: 400, resetAfterMs: 60_000 },
    }));
    const first = await waitFor("first container", () => h.status().container_id);
    await waitFor("a restart", () => h.status().restart_count >= 1 && h.status().state === "running", 30_000);
    const st = h.status();
    assert.notEqual(st.container_id, first);
    assert.ok(st.events.some((e) => e.reason === "Unhealthy" && e.message.startsWith("Liveness probe failed: GET /healthz returned 500")), JSON.stringify(st.events));
    assert.ok(st.events.some((e) => e.reason === "Killing" && e.message === "Container failed liveness probe, will be restarted"));
    assert.ok(st.events.some((e) => e.reason === "BackOff"));
  } finally {
    await sb.stop();
  }
});

test("a memory hog under a small limit is reported OOMKilled", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "oom-room", sessionId: "s-oom" });
  try {
    const h = sb.startService(spec("hog", "hog.js", { resources: { memoryBytes: 96 * 1024 * 1024, pidsLimit: 128 } }));
    const exits: StopResult[] = [];
    h.on("exit", (e) => exits.push({ exitCode: e.exitCode, reason: e.reason }));
    await waitFor("exited", () => h.status().state === "exited", 30_000);
    assert.deepEqual(exits, [{ exitCode: 137, reason: "oom" }]);
    const oom = h.status().events.find((e) => e.reason === "OOMKilled");
    assert.equal(oom?.type, "Warning");
    assert.equal(h.status().last_exit_code, 137);
  } finally {
    await sb.stop();
  }
});

test("a missing image becomes a FailedStart event, not a throw", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "missing-room", sessionId: "s-missing" });
  try {
    const h = sb.startService(spec("ghost", "http.js", { image: "roomservice-test/does-not-exist:1" }));
    const ok = sb.startService(spec("fine", "http.js", { env: { PORT: "9100" } }));
    await waitFor("failed", () => h.status().state === "failed");
    const st = h.status();
    assert.match(st.last_start_error ?? "", /image roomservice-test\/does-not-exist:1 not found/);
    // Retried with backoff (an image built later is picked up), never a container.
    assert.deepEqual(st.events.map((e) => [e.type, e.reason]).slice(0, 2), [["Warning", "FailedStart"], ["Warning", "BackOff"]]);
    assert.equal(st.events[1].message, "Back-off 100ms retrying failed start");
    assert.equal(st.container_id, null);
    await waitFor("the other service still runs", () => ok.status().state === "running");
    // Restarting with a fixed spec recovers.
    await h.restart(spec("ghost", "http.js", { env: { PORT: "9101" } }));
    await waitFor("ghost running", () => h.status().state === "running");
    assert.equal(h.status().last_start_error, null);
  } finally {
    await sb.stop();
  }
});
