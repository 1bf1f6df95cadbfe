/**
 * What the Pod runtime (kube/runtime.ts) does when one service changes, on an in-memory PodApi
 * (no engine): on a cluster (no in-place operations) every change replaces the room's Pod and
 * each sibling gets a Killing event naming the change; where the engine restarts and stops
 * containers in place (podman), a restart that changes only values rewrites that service's
 * Secret and restarts its container alone, a stop stops it alone, and a changed configuration
 * still replaces the Pod. The real engines run the same paths in the conformance suite.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Secret } from "@kubernetes/client-node";
import { PodRuntime, type PodApi, type PodManifests, type PodObservation } from "../src/index.ts";
import { spec, testLogger, waitFor } from "./helpers.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Pods that run at once, every container ready; records what the runtime asked for. */
class FakePodApi implements PodApi {
  readonly kind: "kubernetes" | "podman";
  readonly evaluatesProbes = true;
  readonly pods = new Map<string, { m: PodManifests; startedAt: Map<string, number>; stopped: Set<string> }>();
  readonly calls: string[] = [];
  readonly secrets = new Map<string, Record<string, string>>();
  private t = 1_000_000;
  restartContainer?: PodApi["restartContainer"];
  stopContainer?: PodApi["stopContainer"];
  updateSecret?: PodApi["updateSecret"];

  constructor(inPlace: boolean) {
    this.kind = inPlace ? "podman" : "kubernetes";
    if (inPlace) {
      this.restartContainer = async (_ns, pod, c) => {
        this.calls.push(`restart ${c}`);
        const p = this.pods.get(pod)!;
        p.stopped.delete(c);
        p.startedAt.set(c, ++this.t);
      };
      this.stopContainer = async (_ns, pod, c) => {
        this.calls.push(`stop ${c}`);
        this.pods.get(pod)!.stopped.add(c);
      };
      this.updateSecret = async (s: V1Secret) => {
        this.calls.push(`secret ${s.metadata!.name}`);
        this.secrets.set(s.metadata!.name!, { ...s.stringData });
      };
    }
  }

  async create(m: PodManifests): Promise<void> {
    const name = m.pod.metadata!.name!;
    this.calls.push(`create ${name.slice(name.lastIndexOf("-") + 1)}`);
    for (const s of m.secrets) this.secrets.set(s.metadata!.name!, { ...s.stringData });
    this.pods.set(name, { m, startedAt: new Map(m.pod.spec!.containers.map((c) => [c.name, ++this.t])), stopped: new Set() });
  }

  async read(_ns: string, pod: string): Promise<PodObservation | null> {
    const p = this.pods.get(pod);
    if (p === undefined) return null;
    return {
      phase: "Running",
      containers: p.m.pod.spec!.containers.map((c) => {
        const startedAt = p.startedAt.get(c.name)!;
        const id = `${pod}/${c.name}`;
        return p.stopped.has(c.name)
          ? { name: c.name, id, state: { kind: "terminated" as const, exitCode: 0, reason: "Completed", startedAt, finishedAt: startedAt + 1 }, ready: false, restartCount: 0, last: null }
          : { name: c.name, id, state: { kind: "running" as const, startedAt }, ready: true, restartCount: 0, last: null };
      }),
    };
  }

  async events() {
    return [];
  }

  followLogs(): () => void {
    return () => {};
  }

  async stop(_ns: string, pod: string): Promise<void> {
    const p = this.pods.get(pod);
    if (p !== undefined) for (const c of p.m.pod.spec!.containers) p.stopped.add(c.name);
  }

  async kill(_ns: string, pod: string, containers: string[]): Promise<void> {
    this.calls.push(`kill ${containers.join(",")}`);
    const p = this.pods.get(pod);
    if (p !== undefined) for (const c of containers) p.stopped.add(c);
  }

  async remove(_ns: string, pod: string): Promise<void> {
    if (this.pods.delete(pod)) this.calls.push(`remove ${pod.slice(pod.lastIndexOf("-") + 1)}`);
  }

  async deleteSecrets(_ns: string, names: string[]): Promise<void> {
    for (const n of names) this.secrets.delete(n);
  }

  async listOwned() {
    return { pods: [...this.pods.keys()], secrets: [...this.secrets.keys()] };
  }

  close(): void {}
}

async function room(inPlace: boolean) {
  const dir = await mkdtemp(join(tmpdir(), "rs-kube-reconcile-"));
  dirs.push(dir);
  const api = new FakePodApi(inPlace);
  const rt = new PodRuntime({ ownerId: "o1", logger: testLogger(), api, gatewayImage: "gw", gateway: { kind: "unix", dir }, pollMs: 20 });
  const sb = await rt.createRoomSandbox({ room: "r", sessionId: "s1" });
  const withToken = (token: string, over = {}) => spec("agent", "env.js", { env: { MESHAGENT_TOKEN: token }, sessionEnv: ["MESHAGENT_TOKEN"], ...over });
  const agent = sb.startService(withToken("tok-1111"));
  const web = sb.startService(spec("web", "http.js"));
  await waitFor("both running", () => agent.status().state === "running" && web.status().state === "running");
  return { api, rt, sb, agent, web, withToken };
}

test("on a cluster (no in-place operations) a restart replaces the Pod; the sibling's Killing event says why", async () => {
  const { api, rt, sb, agent, web, withToken } = await room(false);
  const webBefore = web.status().container_id;
  await agent.restart(withToken("tok-2222"));
  assert.deepEqual(api.calls, ["create g1", "remove g1", "create g2"]);
  const killing = web.status().events.filter((e) => e.reason === "Killing").map((e) => e.message);
  assert.deepEqual(killing, [`Stopping container: the room's Pod is replaced because "agent" restarted (a Pod's containers cannot be changed one at a time)`]);
  await waitFor("web running in the new Pod", () => web.status().state === "running" && web.status().container_id !== webBefore);
  const secret = [...api.secrets].find(([n]) => n.endsWith("-g2-agent"))![1];
  assert.deepEqual(secret, { MESHAGENT_TOKEN: "tok-2222" }, "the token is in the new Pod's Secret");
  await web.stop();
  assert.deepEqual(api.calls.slice(3), ["remove g2", "create g3"], "stopping one service alone replaces the Pod too");
  await sb.stop();
  await rt.close();
});

test("where the engine can, a value-only restart rewrites the Secret and restarts that container alone; a stop stops it alone; a new configuration replaces the Pod", async () => {
  const { api, rt, sb, agent, web, withToken } = await room(true);
  const webRun = [web.status().container_id, web.status().started_at];
  await agent.restart(withToken("tok-2222"));
  assert.deepEqual(api.calls, ["create g1", `secret ${[...api.secrets.keys()].find((n) => n.endsWith("-g1-agent"))}`, "restart agent"]);
  assert.deepEqual([...api.secrets].find(([n]) => n.endsWith("-g1-agent"))![1], { MESHAGENT_TOKEN: "tok-2222" });
  await waitFor("agent running again", () => agent.status().state === "running");
  assert.equal(agent.status().restart_count, 1);
  assert.match(agent.status().events.find((e) => e.reason === "Killing")!.message, /restarting it in place/);
  assert.deepEqual([web.status().container_id, web.status().started_at], webRun);
  assert.ok(!web.status().events.some((e) => e.reason === "Killing"));

  await agent.stop();
  assert.equal(api.calls.at(-1), "stop agent");
  assert.equal(agent.status().state, "stopped");
  await agent.restart();
  assert.equal(api.calls.at(-1), "restart agent", "started again: the stopped container restarts in place");
  await waitFor("agent running once more", () => agent.status().state === "running");

  await agent.restart(withToken("tok-3333", { env: { MESHAGENT_TOKEN: "tok-3333", GREETING: "new" } }));
  assert.deepEqual(api.calls.slice(-2), ["remove g1", "create g2"], "a changed configuration replaces the Pod");
  assert.ok(web.status().events.some((e) => e.reason === "Killing" && e.message.includes(`because "agent" restarted`)));
  await sb.stop();
  await rt.close();
});
