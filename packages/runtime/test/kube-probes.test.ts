/**
 * The probes the podman backend runs itself (kube/podman-probes.ts), on a fake clock with exec
 * checks answered by the test: Kubernetes semantics — initial delay and period, a startup
 * probe holding back readiness and liveness, failureThreshold failures in a row killing the
 * run (startup, liveness) or making it unready (readiness), successThreshold for readiness,
 * a new run starting over — and the kubelet's Unhealthy and Killing events.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Probe } from "@kubernetes/client-node";
import { HelperSpawnLimit } from "../src/netns/spawn-limit.ts";
import { PodProbes, type ContainerProbes } from "../src/kube/podman-probes.ts";
import { testLogger } from "./helpers.ts";

const exec = (cmd: string, o: Partial<V1Probe> = {}): V1Probe => ({ exec: { command: [cmd] }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1, ...o });

function rig(probes: ContainerProbes) {
  let t = 1_000_000;
  const answers: Record<string, boolean> = {};
  const checks: string[] = [];
  const events: string[] = [];
  const kills: number[] = [];
  const p = new PodProbes(new Map([["web", probes]]), testLogger(), {
    exec: async (_id, cmd) => {
      checks.push(cmd[0]!);
      return answers[cmd[0]!] ? { ok: true } : { ok: false, error: `command exited with 1` };
    },
    kill: async (_id, startedAt) => void kills.push(startedAt),
    event: (c, type, reason, message) => void events.push(`${c} ${type} ${reason}: ${message}`),
  }, new HelperSpawnLimit(), () => t);
  /** One poll at `t`, then the check's answer is in. */
  const poll = async (startedAt = 1_000_000) => {
    const r = p.ready("web", "id1", startedAt, t);
    await new Promise((res) => setImmediate(res));
    return r;
  };
  return { p, answers, checks, events, kills, poll, advance: (ms: number) => (t += ms) };
}

test("a startup probe holds back readiness and liveness until it passes; then readiness decides", async () => {
  const r = rig({ startup: exec("start", { failureThreshold: 5 }), readiness: exec("ready"), liveness: exec("live", { failureThreshold: 3 }) });
  r.answers.ready = true;
  r.answers.live = true;
  assert.equal(await r.poll(), false);
  assert.deepEqual(r.checks, ["start"], "only the startup probe runs");
  r.advance(1000);
  r.answers.start = true;
  assert.equal(await r.poll(), false);
  assert.deepEqual(r.checks, ["start", "start"]);
  await r.poll(); // startup passed: liveness and readiness begin
  assert.deepEqual(r.checks.slice(2).sort(), ["live", "ready"]);
  assert.equal(await r.poll(), true, "ready after one readiness success");
  assert.deepEqual(r.events, ["web Warning Unhealthy: Startup probe failed: command exited with 1"]);
  r.p.close();
});

test("liveness: failureThreshold failures in a row kill the run once (Unhealthy each time, then Killing); a new run starts over", async () => {
  const r = rig({ liveness: exec("live", { failureThreshold: 2 }) });
  r.answers.live = true;
  assert.equal(await r.poll(), true, "no readiness probe: ready once started (liveness does not gate readiness)");
  r.answers.live = false;
  r.advance(1000);
  await r.poll();
  assert.deepEqual(r.kills, [], "one failure is below the threshold");
  r.advance(1000);
  assert.equal(await r.poll(), true, "the second failure's verdict comes with the next poll");
  assert.equal(await r.poll(), false, "killed: not ready");
  assert.deepEqual(r.kills, [1_000_000]);
  assert.deepEqual(r.events, [
    "web Warning Unhealthy: Liveness probe failed: command exited with 1",
    "web Warning Unhealthy: Liveness probe failed: command exited with 1",
    "web Normal Killing: Container web failed liveness probe, will be restarted",
  ]);
  r.advance(5000);
  await r.poll();
  assert.deepEqual(r.kills, [1_000_000], "no more checks on a killed run");
  // The engine restarted it: a new run (new start time) is probed afresh.
  r.answers.live = true;
  const n = r.checks.length;
  await r.poll(1_000_001);
  assert.equal(r.checks.length, n + 1);
  r.p.close();
});

test("readiness: successThreshold successes to become ready, failureThreshold failures to become unready, never a kill; initialDelaySeconds waits", async () => {
  const r = rig({ readiness: exec("ready", { successThreshold: 2, failureThreshold: 2, initialDelaySeconds: 3 }) });
  r.answers.ready = true;
  await r.poll();
  assert.deepEqual(r.checks, [], "inside the initial delay");
  r.advance(3000);
  await r.poll();
  r.advance(1000);
  assert.equal(await r.poll(), false, "one success of two");
  assert.equal(await r.poll(), true);
  r.answers.ready = false;
  r.advance(1000);
  assert.equal(await r.poll(), true, "one failure of two");
  r.advance(1000);
  await r.poll();
  assert.equal(await r.poll(), false);
  assert.deepEqual(r.kills, []);
  assert.ok(r.events.every((e) => e.startsWith("web Warning Unhealthy: Readiness probe failed")), JSON.stringify(r.events));
  r.p.close();
});

test("a startup probe that never passes kills the run after failureThreshold failures", async () => {
  const r = rig({ startup: exec("start", { failureThreshold: 3 }), readiness: exec("ready") });
  for (let i = 0; i < 3; i++) {
    await r.poll();
    r.advance(1000);
  }
  await r.poll();
  assert.deepEqual(r.kills, [1_000_000]);
  assert.equal(r.events.at(-1), "web Normal Killing: Container web failed startup probe, will be restarted");
  assert.ok(!r.checks.includes("ready"), "readiness never ran");
  r.p.close();
});
