/**
 * The supervisor on a fake driver and a fake clock (no Docker, no sleeping): backoff
 * arithmetic, single-flight restart, stop winning over a restart, failed starts retried with
 * backoff, port-conflict and child-OOM events, and the log pipeline (masking, tail flush).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { backoffDelay, LaunchFailure, ServiceSupervisor, startOrRestart } from "../src/supervisor.ts";
import type { LogLine } from "../src/index.ts";
import { FakeClock, FakeDriver, fakeSpec, quietLogger, settle } from "./fake-driver.ts";

function make(over: Parameters<typeof fakeSpec>[1] = {}, driver = new FakeDriver(), clock = new FakeClock()) {
  const sup = new ServiceSupervisor(fakeSpec("svc", over), driver, quietLogger, clock);
  return { sup, driver, clock };
}

test("backoffDelay doubles from the initial delay and stops at the cap", () => {
  const r = { initialBackoffMs: 100, maxBackoffMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(r, n)), [100, 200, 400, 800, 1000, 1000]);
  // Huge failure counts do not overflow into Infinity/NaN.
  assert.equal(backoffDelay(r, 5000), 1000);
});

test("a crash loop backs off 100, 200, 400, 400 ms; a run that lasted resetAfterMs starts the backoff over", async () => {
  const { sup, driver, clock } = make();
  driver.crashWith = 3;
  const delays: number[] = [];
  sup.on("state", (s) => {
    if (s.state === "backoff" && s.restart_scheduled_at !== null && s.last_exit_at !== null) delays.push(s.restart_scheduled_at - s.last_exit_at);
  });
  sup.start();
  await settle();
  for (const d of [100, 200, 400, 400]) {
    assert.deepEqual(clock.pending(), [d]);
    await clock.advance(d);
  }
  // The fifth crash waits the capped 400 ms again.
  assert.deepEqual(delays, [100, 200, 400, 400, 400]);
  assert.equal(driver.instances.length, 5);
  assert.equal(sup.status().restart_count, 4);
  // The next run stays up for resetAfterMs (1 s) before crashing: the delay is back to 100 ms.
  driver.crashWith = null;
  await clock.advance(400);
  assert.equal(driver.instances.length, 6);
  await clock.advance(1000);
  driver.instances[5].exit(3);
  await settle();
  assert.equal(delays.at(-1), 100);
  const backoffs = sup.status().events.filter((e) => e.reason === "BackOff").map((e) => [e.message, e.count]);
  assert.deepEqual(backoffs, [
    ["Back-off 100ms restarting failed container", 2],
    ["Back-off 200ms restarting failed container", 1],
    ["Back-off 400ms restarting failed container", 3],
  ]);
  await sup.stop();
  assert.equal(sup.status().state, "stopped");
  assert.deepEqual(driver.live(), []);
});

test("exit 0 under on-failure ends the service; under always it restarts after the initial delay", async () => {
  const a = make({ restart: { policy: "on-failure", initialBackoffMs: 100, maxBackoffMs: 400, resetAfterMs: 1000 } });
  a.driver.crashWith = 0;
  a.sup.start();
  await settle();
  assert.equal(a.sup.status().state, "exited");
  assert.deepEqual(a.clock.pending(), []);
  const b = make();
  b.driver.crashWith = 0;
  b.sup.start();
  await settle();
  assert.equal(b.sup.status().state, "backoff");
  assert.deepEqual(b.clock.pending(), [100]);
  assert.equal(b.sup.status().events.find((e) => e.reason === "BackOff")?.message, "Back-off 100ms restarting container");
  await b.sup.stop();
});

test("issue 12 #14: two overlapping restart() calls launch once, with the newest spec, and stop() leaves no run behind", async () => {
  const { sup, driver } = make();
  sup.start();
  await settle();
  assert.equal(driver.instances.length, 1);
  const r1 = sup.restart(fakeSpec("svc", { image: "fake:2" }));
  const r2 = sup.restart(fakeSpec("svc", { image: "fake:3" }));
  await Promise.all([r1, r2]);
  await settle();
  assert.equal(driver.instances.length, 2, "one launch for two overlapping restarts");
  assert.equal(driver.instances[1].spec.image, "fake:3");
  assert.deepEqual(driver.live().map((i) => i.id), [driver.instances[1].id]);
  assert.equal(sup.status().restart_count, 1);
  await sup.stop();
  assert.deepEqual(driver.live(), [], "no run survives stop()");
  assert.equal(sup.status().state, "stopped");
});

test("issue 12 #14: stop() during a restart wins: nothing is launched after it", async () => {
  const driver = new FakeDriver();
  driver.onTerm = null; // the run ignores SIGTERM: the restart's stop phase waits out the grace period
  const { sup, clock } = make({ stop: { signal: "SIGTERM", gracePeriodMs: 500 } }, driver);
  sup.start();
  await settle();
  const restarting = sup.restart();
  await settle();
  const stopping = sup.stop();
  await clock.advance(500); // grace over: SIGKILL
  await Promise.all([restarting, stopping]);
  await settle();
  assert.equal(driver.instances.length, 1);
  assert.deepEqual(driver.instances[0].signals, ["SIGTERM", "SIGKILL"]);
  assert.deepEqual(driver.live(), []);
  assert.equal(sup.status().state, "stopped");
  assert.deepEqual(sup.lastExit(), { exitCode: 137, reason: "signal" });
});

test("issue 12 #22: a failed start is retried with backoff (state failed, retry time set) and recovers; a final failure is not retried", async () => {
  const { sup, driver, clock } = make();
  driver.failNext = [new LaunchFailure("image fake:1 not found"), new LaunchFailure("image fake:1 not found")];
  sup.start();
  await settle();
  let st = sup.status();
  assert.equal(st.state, "failed");
  assert.equal(st.last_start_error, "image fake:1 not found");
  assert.equal(st.restart_scheduled_at, clock.now() + 100);
  await clock.advance(100);
  assert.equal(sup.status().restart_scheduled_at, clock.now() + 200);
  await clock.advance(200);
  assert.equal(sup.status().state, "starting"); // nothing to probe: ready once up for 1 s
  await clock.advance(1000);
  st = sup.status();
  assert.equal(st.state, "running");
  assert.equal(st.last_start_error, null);
  assert.equal(driver.instances.length, 1);
  assert.deepEqual(st.events.filter((e) => e.reason === "FailedStart").map((e) => e.count), [2]);
  assert.deepEqual(st.events.filter((e) => e.reason === "BackOff").map((e) => e.message), ["Back-off 100ms retrying failed start", "Back-off 200ms retrying failed start"]);
  await sup.stop();

  const final = make();
  final.driver.failNext = [new LaunchFailure("the room's session has ended", { retry: false })];
  final.sup.start();
  await settle();
  assert.equal(final.sup.status().state, "failed");
  assert.deepEqual(final.clock.pending(), []);
});

test("issue 12 #17: a run with nothing to probe is Ready only after staying up 1 s; one that exits at once never is", async () => {
  const crashy = make();
  crashy.driver.crashWith = 3;
  crashy.sup.start();
  await settle();
  await crashy.clock.advance(100); // the restart after the first crash; it crashes too
  const events = crashy.sup.status().events.map((e) => e.reason);
  assert.ok(events.includes("Exited") && events.includes("BackOff"), JSON.stringify(events));
  assert.ok(!events.includes("Ready"), `a container that exits at once got Ready: ${JSON.stringify(events)}`);
  await crashy.sup.stop();

  const steady = make();
  steady.sup.start();
  await settle();
  assert.equal(steady.sup.status().state, "starting");
  await steady.clock.advance(999);
  assert.equal(steady.sup.status().state, "starting");
  await steady.clock.advance(1);
  assert.equal(steady.sup.status().state, "running");
  assert.deepEqual(steady.sup.status().events.filter((e) => e.reason === "Ready").map((e) => e.message), ["Service is ready"]);
  // The 1 s wait's abort listener is gone once the wait is over: the run's signal lives as
  // long as the run, and must not keep one listener per wait (issue 10 figure 6).
  const signal = (steady.sup as unknown as { probes: { ctl: AbortController } }).probes.ctl.signal;
  assert.equal(getEventListeners(signal, "abort").length, 0, "no abort listener left on the run's signal");
  await steady.sup.stop();
});

test("issue 12 #16: a crash caused by a taken port says so, naming the service holding it", async () => {
  const driver = new FakeDriver();
  const clock = new FakeClock();
  const handles = new Map<string, ServiceSupervisor>();
  const web = startOrRestart(handles, fakeSpec("web", { ports: [{ num: 8080, type: "http" }] }), driver, quietLogger, clock);
  await settle();
  driver.listening.add(8080); // web listens on 8080
  driver.crashWith = 3;
  const loser = startOrRestart(handles, fakeSpec("loser", { name: "loser", ports: [{ num: 8080, type: "http" }] }), driver, quietLogger, clock);
  await settle();
  const st = loser.status();
  assert.deepEqual(st.events.filter((e) => e.reason === "Exited" || e.reason === "BackOff").map((e) => e.message), [
    'Container exited with code 3 (port 8080 was already in use by service "web")',
    'Back-off 100ms restarting failed container (port 8080 was already in use by service "web")',
  ]);
  // A service binding the Room API port: known from its own error output.
  driver.crashWith = null;
  const api = startOrRestart(handles, fakeSpec("api"), driver, quietLogger, clock);
  await settle();
  const inst = driver.instances.at(-1)!;
  inst.hooks.output("stderr", Buffer.from("Error: listen EADDRINUSE: address already in use 127.0.0.1:8078\n"));
  inst.exit(1);
  await settle();
  assert.equal(api.status().events.find((e) => e.reason === "Exited")?.message, "Container exited with code 1 (port 8078 was already in use by the Room API)");
  await Promise.all([web.stop(), loser.stop(), api.stop()]);
});

test("issue 12 #18: an OOM kill of a child while the main process survives is an OOMKilled warning", async () => {
  const { sup, driver, clock } = make();
  sup.start();
  await settle();
  driver.instances[0].hooks.oom?.();
  await clock.advance(1000);
  const oom = sup.status().events.find((e) => e.reason === "OOMKilled");
  assert.equal(oom?.type, "Warning");
  assert.equal(oom?.message, "A process in the container was killed for exceeding the memory limit; the main process is still running");
  assert.equal(sup.status().state, "running");
  await sup.stop();
});

test("issues 12 #4/#11: output is masked before it is split (multi-line and split secrets) and the unterminated tail is emitted at the end", async () => {
  const pem = "-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASCAUEwggE9\n-----END KEY-----";
  const { sup, driver } = make({ secretFiles: { KEY: pem, TOKEN: "tok-123456789" } });
  const lines: LogLine[] = [];
  sup.on("log", (l) => lines.push(l));
  sup.start();
  await settle();
  const out = (s: string) => driver.instances[0].hooks.output("stdout", Buffer.from(s));
  out(`key: ${pem.slice(0, 30)}`);
  out(`${pem.slice(30)} done\nsecret tok-12`);
  out("3456789 end\nline by line:\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASCAUEwggE9\nTAIL");
  driver.instances[0].exit(0);
  await settle();
  assert.deepEqual(lines.map((l) => l.line), ["key: **** done", "secret **** end", "line by line:", "****", "TAIL"]);
  await sup.stop();
});
