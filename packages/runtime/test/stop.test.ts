/**
 * Stopping: the stop signal, the grace period, then SIGKILL; the result says how it ended;
 * nothing labelled stays behind.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { collectLogs, labelledContainers, setup, spec, waitFor, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

test("a service that ignores SIGTERM is killed at the grace period; a polite one exits at once", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "stop-room", sessionId: "s-stop" });
  const stubborn = sb.startService(spec("stubborn", "stubborn.js", { stop: { signal: "SIGTERM", gracePeriodMs: 1000 } }));
  const polite = sb.startService(spec("polite", "http.js", { env: { PORT: "9100" }, ports: [{ num: 9100, type: "http", livenessPath: "/healthz" }] }));
  const logs = collectLogs(stubborn);
  await waitFor("stubborn up", () => logs.some((l) => l.line === "stubborn up"));
  await waitFor("polite ready", () => polite.status().state === "running");

  const exits: { serviceId: string; exitCode: number; reason: string }[] = [];
  stubborn.on("exit", (e) => exits.push(e));
  await Promise.all([stubborn.stop(), polite.stop()]);
  const [r1, r2] = [stubborn.lastExit(), polite.lastExit()];
  assert.deepEqual(r1, { exitCode: 137, reason: "signal" });
  assert.deepEqual(r2, { exitCode: 0, reason: "exit" });
  assert.ok(logs.some((l) => l.line === "ignoring SIGTERM"), "the stop signal reached the process");
  assert.equal(exits[0].exitCode, 137);

  const st = stubborn.status();
  assert.equal(st.state, "stopped");
  assert.equal(st.last_exit_code, 137);
  assert.ok(st.events.some((e) => e.reason === "Killing"));
  // Stop is idempotent and so is the sandbox's.
  await stubborn.stop();
  assert.deepEqual(stubborn.lastExit(), r1);
  await sb.stop();
  await sb.stop();
  assert.deepEqual(await labelledContainers(env), []);
});

test("stopping the sandbox stops every service in parallel and removes the pause container", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "stop-room", sessionId: "s-stop-2" });
  const hs = ["a", "b", "c"].map((id, i) => sb.startService(spec(id, "http.js", { env: { PORT: String(9100 + i) } })));
  await waitFor("all running", () => hs.every((h) => h.status().state === "running"));
  assert.equal((await labelledContainers(env)).length, 4);
  await sb.stop();
  assert.deepEqual(hs.map((h) => h.status().state), ["stopped", "stopped", "stopped"]);
  assert.deepEqual(await labelledContainers(env), []);
  // Starting a service on a stopped sandbox fails visibly instead of leaking a container.
  const late = sb.startService(spec("late", "http.js"));
  await waitFor("late failed", () => late.status().state === "failed");
  assert.match(late.status().last_start_error ?? "", /session has ended/);
});
