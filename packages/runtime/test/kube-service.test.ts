/**
 * How a service of a room's Pod turns Kubernetes container statuses and Events into the
 * server's service state (kube/service.ts), on observations shaped as the kubelet reports them
 * — the paths podman never takes (readiness flips, CrashLoopBackOff, lastState, OOMKilled,
 * image pull failures, Events), instantly and without a cluster.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ContainerObservation } from "../src/index.ts";
import { PodServiceHandle, type PodServiceOwner } from "../src/kube/service.ts";
import { spec, testLogger } from "./helpers.ts";

function harness(evaluatesProbes = true) {
  let now = 1_000_000;
  const follows: { containerId: string; since: number | null; onEnd?: () => void; stopped: boolean }[] = [];
  const owner: PodServiceOwner = {
    stopService: async () => {},
    restartService: async () => {},
    followLogs: (_h, containerId, since, onEnd) => {
      const f = { containerId, since, onEnd, stopped: false };
      follows.push(f);
      return () => void (f.stopped = true);
    },
  };
  const s = spec("web", "http.js", { ports: [{ num: 9100, type: "http", livenessPath: "/healthz" }], secretFiles: { K: "s3cret-value" } });
  const h = new PodServiceHandle(s, owner, testLogger(), { now: () => now }, evaluatesProbes);
  h.enterPod(s);
  const states: string[] = [];
  h.on("state", (st) => states.push(st.state));
  const exits: unknown[] = [];
  h.on("exit", (e) => exits.push({ exitCode: e.exitCode, reason: e.reason }));
  return { h, follows, states, exits, tick: (ms: number) => (now += ms) };
}

const running = (o: Partial<ContainerObservation> = {}): ContainerObservation => ({
  name: "web", id: "containerd://aaa", state: { kind: "running", startedAt: 1_000_100 }, ready: false, restartCount: 0, last: null, ...o,
});

test("a run: Created, Started, then Ready only when the kubelet says ready; unready again is unhealthy", () => {
  const { h, follows, states } = harness();
  h.observe(running());
  assert.equal(h.status().state, "starting");
  assert.deepEqual(h.status().events.map((e) => e.reason), ["Created", "Started"]);
  assert.deepEqual(follows.map((f) => ({ containerId: f.containerId, since: f.since })), [{ containerId: "containerd://aaa", since: null }]);
  h.observe(running({ ready: true }));
  assert.equal(h.status().state, "running");
  assert.deepEqual(h.status().events.map((e) => e.reason), ["Created", "Started", "Ready"]);
  assert.equal(h.status().ports[0]!.liveness_status, "ready");
  h.observe(running({ ready: true }));
  assert.equal(h.status().events.length, 3, "an unchanged status adds nothing");
  h.observe(running({ ready: false }));
  assert.equal(h.status().state, "unhealthy");
  assert.equal(h.status().ports[0]!.liveness_status, "not_ready");
  // "state" also fires with every event (as the supervisor's does): the distinct sequence is what moves.
  assert.deepEqual(states.filter((x, i) => x !== states[i - 1]), ["pending", "starting", "running", "unhealthy"]);
});

test("a crash loop: restartCount and lastState give the exits; CrashLoopBackOff is backoff; a new run follows its logs from its start", () => {
  const { h, follows, exits } = harness();
  h.observe(running({ ready: true }));
  h.observe({ ...running(), state: { kind: "waiting", reason: "CrashLoopBackOff", message: "back-off 10s" }, restartCount: 1, last: { exitCode: 3, reason: "Error", finishedAt: 1_000_500 } });
  assert.equal(h.status().state, "backoff");
  assert.equal(h.status().restart_count, 1);
  assert.equal(h.status().last_exit_code, 3);
  assert.equal(h.status().last_exit_at, 1_000_500);
  assert.deepEqual(exits, [{ exitCode: 3, reason: "exit" }]);
  h.observe(running({ id: "containerd://bbb", restartCount: 1, state: { kind: "running", startedAt: 1_010_000 }, last: { exitCode: 3, reason: "Error", finishedAt: 1_000_500 } }));
  assert.equal(exits.length, 1, "the same lastState is one exit");
  assert.equal(h.status().container_id, "containerd://bbb");
  assert.deepEqual({ containerId: follows.at(-1)!.containerId, since: follows.at(-1)!.since }, { containerId: "containerd://bbb", since: 1_010_000 });
  const ev = h.status().events;
  assert.equal(ev.find((e) => e.reason === "Exited")?.message, "Container exited with code 3");
  assert.equal(ev.find((e) => e.reason === "Started")?.count, 2);
});

test("OOMKilled and a SIGKILLed run are told apart; a terminated container is exited", () => {
  const { h, exits } = harness();
  h.observe(running({ ready: true }));
  h.observe({ ...running(), state: { kind: "terminated", exitCode: 137, reason: "OOMKilled", startedAt: 1_000_100, finishedAt: 1_002_000 } });
  assert.equal(h.status().state, "exited");
  assert.deepEqual(h.lastExit(), { exitCode: 137, reason: "oom" });
  assert.equal(h.status().events.at(-1)?.reason, "OOMKilled");
  const b = harness();
  b.h.observe(running());
  b.h.observe({ ...running(), state: { kind: "terminated", exitCode: 137, reason: "Error", startedAt: 1_000_100, finishedAt: 1_002_000 } });
  assert.deepEqual(b.h.lastExit(), { exitCode: 137, reason: "signal" });
  assert.equal(exits.length, 1);
});

test("an image that cannot be pulled is a failed start with the kubelet's reason", () => {
  const { h } = harness();
  h.observe({ ...running(), id: null, state: { kind: "waiting", reason: "ErrImagePull", message: "pull access denied for example/nope" } });
  const st = h.status();
  assert.equal(st.state, "failed");
  assert.equal(st.last_start_error, "ErrImagePull: pull access denied for example/nope");
  assert.deepEqual(st.events.map((e) => [e.type, e.reason]), [["Warning", "FailedStart"]]);
  h.observe({ ...running(), id: null, state: { kind: "waiting", reason: "ErrImagePull", message: "pull access denied for example/nope" } });
  assert.equal(h.status().events.length, 1, "the same failure is not repeated");
});

test("Kubernetes Events become service events once each (the engine's count grows), unknown reasons are left out", () => {
  const { h } = harness();
  const ev = { container: "web", type: "Warning" as const, reason: "Unhealthy", message: "Readiness probe failed: dial tcp 127.0.0.1:9100: connect: connection refused", count: 2, firstTimestamp: 1, lastTimestamp: 2 };
  h.observeEvents([ev, { ...ev, type: "Normal", reason: "Pulled", message: "Container image already present", count: 1 }]);
  let un = h.status().events.filter((e) => e.reason === "Unhealthy");
  assert.equal(un.length, 1);
  assert.equal(un[0]!.count, 2);
  h.observeEvents([{ ...ev, count: 3 }]);
  un = h.status().events.filter((e) => e.reason === "Unhealthy");
  assert.equal(un[0]!.count, 3);
  assert.ok(!h.status().events.some((e) => (e.reason as string) === "Pulled"));
});

test("an engine that runs no readiness probes: running means ready, and the event says why", () => {
  const { h } = harness(false);
  h.observe(running({ ready: false }));
  assert.equal(h.status().state, "running");
  assert.equal(h.status().events.at(-1)?.message, "Container is running (this engine does not run readiness probes)");
});

test("log lines of a run are masked before they are split, per stream", () => {
  const { h } = harness();
  const lines: string[] = [];
  h.on("log", (l) => lines.push(`${l.stream}:${l.line}`));
  h.observe(running());
  h.output("stdout", Buffer.from("key s3cret-"));
  h.output("stdout", Buffer.from("value done\nsecond"));
  h.output("stderr", Buffer.from("oops\n"));
  h.stopped();
  assert.deepEqual(lines, ["stdout:key **** done", "stderr:oops", "stdout:second"]);
  assert.equal(h.status().state, "stopped");
});

test("a run's last lines that the log stream delivers after its exit was observed are kept, not cut off", () => {
  const { h, follows } = harness();
  const lines: string[] = [];
  h.on("log", (l) => lines.push(l.line));
  h.observe(running());
  h.output("stdout", Buffer.from("up\n"));
  // The exit is observable before podman's `logs -f` has read the last words.
  h.observe({ ...running(), state: { kind: "terminated", exitCode: 0, reason: "Completed", startedAt: 1_000_100, finishedAt: 1_002_000 } });
  assert.equal(follows[0]!.stopped, false, "the ended run's stream is still followed");
  h.output("stdout", Buffer.from("got SIGTERM\nbye"));
  follows[0]!.onEnd?.(); // the stream ends by itself
  assert.equal(follows[0]!.stopped, true);
  assert.deepEqual(lines, ["up", "got SIGTERM", "bye"]);
  // Output after a new run began belongs to the new run only.
  h.observe(running({ id: "containerd://bbb", restartCount: 1, state: { kind: "running", startedAt: 1_003_000 } }));
  h.output("stdout", Buffer.from("second run\n"));
  assert.deepEqual(lines, ["up", "got SIGTERM", "bye", "second run"]);
  h.stopped();
  assert.equal(follows[1]!.stopped, true, "the Pod is gone: its stream is no longer followed");
});
