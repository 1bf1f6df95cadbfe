/**
 * The server with the Pod runtime on podman (the kubernetes runtime's manifests, run by
 * `podman kube play`): a room's session becomes one Pod; the SDK chat agent inside it reaches
 * the Room API at ws://127.0.0.1:8078 through the gateway sidecar (a WebSocket over the
 * sidecar's relay into this server) and greets the room; the MCP example in the same Pod
 * becomes a room toolkit (the bridge connects into the Pod through the sidecar) and its tool
 * reads room storage (a hostPath mount); no token of the session is anywhere in what podman
 * shows about the Pod (they are Secret files the launcher exports); restarting one service from
 * the server restarts its container inside the same Pod (the agent keeps its run); the
 * session's end removes the Pod.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { buildGatewayImage, createDockerRuntime, createPodmanRuntime, GATEWAY_IMAGE, loadIntoPodman } from "@roomservice/runtime";
import { collectMessages, eventually, startTestServer } from "./helpers.ts";
import { buildExampleImages, IMAGES, manifest, waitUntil } from "./services-env.ts";

function hasPodman(): boolean {
  try {
    execFileSync("podman", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function pods(ownerId: string): string[] {
  return execFileSync("podman", ["pod", "ps", "--filter", `label=roomservice.dev/owner=${ownerId}`, "--format", "{{.Name}}"], { encoding: "utf8" }).split("\n").filter(Boolean);
}

test("pods on podman: the SDK agent in the room's Pod reaches the Room API through the gateway sidecar", { skip: hasPodman() ? false : "podman is not installed (scripts/ensure-system.sh installs it)" }, async (t) => {
  const ownerId = `test-pods-${randomBytes(4).toString("hex")}`;
  const logs: string[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void logs.push(s) });
  // Images are built with Docker and moved into podman's store (no registry here).
  const docker = await createDockerRuntime({ ownerId: `${ownerId}-build`, logger });
  await buildExampleImages(docker);
  await buildGatewayImage(docker.docker);
  await docker.close();
  await loadIntoPodman(IMAGES.chat);
  await loadIntoPodman(IMAGES.mcp);
  await loadIntoPodman(GATEWAY_IMAGE);
  const runtime = await createPodmanRuntime({ ownerId, logger: logger.child({ component: "runtime" }) });
  const ts = await startTestServer({ runtime, logger, departureTimeoutMs: 300 });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans(ownerId);
    await runtime.close();
  });
  const agentRec = await ts.server.services.create("default", "pods", "agent", manifest("agent", IMAGES.chat), Date.now());
  const toolsRec = await ts.server.services.create("default", "pods", "tools", manifest("tools", IMAGES.mcp, {
    container: { storage: { room: [{ path: "/data" }] } },
    ports: [{ num: 8090, type: "http", liveness: "/healthz", endpoints: [{ path: "/mcp", mcp: { label: "data-tools" } }] }],
  }), Date.now());

  const alice = await ts.client("pods", "alice");
  const box = collectMessages(alice);
  alice.messaging.enable();
  const lines: string[] = [];
  ts.server.launcher.activity.on("log", (l) => lines.push(`${l.stream}: ${l.text}`));
  try {
    await eventually(() => box.messages.some((m) => m.message?.text === "hello from pods"), 120_000, "the agent's greeting from inside the Pod");
  } catch (err) {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states;
    throw new Error(`${(err as Error).message}; services: ${JSON.stringify(st)}; output: ${lines.slice(-20).join(" | ")}`);
  }
  await waitUntil("both running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st.length === 2 && st.every((x: any) => x.state === "running");
  });
  // The MCP bridge reaches the tools service's port inside the Pod through the sidecar.
  await alice.storage.upload("orders.csv", new TextEncoder().encode("id,amount\n1,2\n"));
  const tk = await waitUntil("the data-tools toolkit", async () => (await alice.listToolkits()).find((k: any) => k.name === "data-tools"), 60_000);
  assert.ok(tk.tools.some((x: any) => x.name === "markdown_report"), JSON.stringify(tk.tools.map((x: any) => x.name)));
  const report = await alice.invoke({ toolkit: "data-tools", tool: "markdown_report", input: { title: "Orders" } });
  assert.match(JSON.stringify(report), /orders\.csv/);
  assert.equal(pods(ownerId).length, 1, "one Pod for the session, both services in it");
  // The agent greeted the room with its MESHAGENT_TOKEN; no token (a JWT: "eyJ…") is in the
  // Pod's or its containers' inspect output, nor in the Pod YAML podman reconstructs.
  const [pod] = pods(ownerId);
  const podJson = execFileSync("podman", ["pod", "inspect", pod!], { encoding: "utf8" });
  const ids = (JSON.parse(podJson) as { Containers: { Id: string }[] }).Containers.map((c) => c.Id);
  const view = [podJson, execFileSync("podman", ["container", "inspect", ...ids], { encoding: "utf8" }),
    execFileSync("podman", ["kube", "generate", pod!], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })].join("\n");
  assert.match(view, /MESHAGENT_ROOM_URL/, "the inspect output holds the services' env");
  assert.match(view, /ROOMSERVICE_SECRET_ENV=MESHAGENT_SESSION_ID,MESHAGENT_TOKEN|"ROOMSERVICE_SECRET_ENV"/);
  assert.doesNotMatch(view, /eyJ[A-Za-z0-9_-]{10,}/, "no token in podman inspect");

  // Studio's Restart of one service (a new token, the same configuration) restarts its
  // container inside the same Pod; the agent's run is untouched.
  const states = async () => (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
  const agentBefore = (await states()).find((x) => x.service_id === agentRec.id);
  await ts.server.launcher.restart("pods", toolsRec.id);
  await waitUntil("tools running again", async () => {
    const t2 = (await states()).find((x) => x.service_id === toolsRec.id);
    return t2.restart_count >= 1 && t2.state === "running";
  }, 60_000);
  const agentAfter = (await states()).find((x) => x.service_id === agentRec.id);
  assert.deepEqual([agentAfter.container_id, agentAfter.started_at, agentAfter.state], [agentBefore.container_id, agentBefore.started_at, "running"]);
  assert.deepEqual(pods(ownerId), [pod], "the same Pod");
  assert.equal(ts.server.launcher.runtimeKind, "podman");

  const stopped = new Promise<void>((r) => ts.server.launcher.stopped.once("stopped", () => r()));
  alice.dispose();
  await stopped;
  assert.deepEqual(pods(ownerId), [], "the session's end removed the Pod");
  assert.ok(!logs.join("").includes("pod gateway refused"), "no gateway connection was refused");
});
