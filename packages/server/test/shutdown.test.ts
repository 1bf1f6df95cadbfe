/**
 * Issue 12 #13: `roomservice serve` exits on SIGTERM while an SSE client is connected, and a
 * second signal exits at once instead of waiting out a service's grace period.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { pino } from "pino";
import { createDockerRuntime } from "@roomservice/runtime";
import { sdk, settle } from "./helpers.ts";
import { spawnServer, waitExit } from "./process.ts";
import { mintParticipantToken, ServiceStore, Store } from "../src/index.ts";
import { buildExampleImages, docker, IMAGES, labelled, manifest, waitUntil } from "./services-env.ts";

const SECRET = "shutdown-test-secret-0123456789ab";

/** Exit code (or signal), or null if the process is still running after `boundMs` (a hang bound, not a timing assertion). */
async function exitWithin(child: ChildProcess, boundMs: number): Promise<number | string | null> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    waitExit(child).then(() => child.exitCode ?? child.signalCode),
    new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), boundMs))),
  ]);
  clearTimeout(timer);
  return r;
}


/**
 * A `serve` child on the Docker runtime whose data dir holds one room service, stored before
 * the start (the example images built first); killed and its containers reaped after the test.
 */
async function serverWithService(t: TestContext, room: string, name: string, spec: Record<string, unknown>): Promise<{ server: Awaited<ReturnType<typeof spawnServer>>; ownerId: string }> {
  const quiet = pino({ level: "silent" });
  const builder = await createDockerRuntime({ ownerId: "image-builder", logger: quiet });
  await buildExampleImages(builder);
  await builder.close();
  const dataDir = await mkdtemp(join(tmpdir(), "rs-shutdown-svc-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const store = Store.openSqlite(join(dataDir, "roomservice.db"));
  await new ServiceStore(store).create("default", room, name, manifest(name, IMAGES.http, spec), Date.now());
  await store.close();
  const server = await spawnServer(dataDir, { MESHAGENT_SECRET: SECRET, ROOMSERVICE_RUNTIME: "docker", ROOMSERVICE_ROOM_POOL: "0", ROOMSERVICE_LOG_LEVEL: process.env.RS_DEBUG ?? "warn" });
  const ownerId = (await readFile(join(dataDir, "owner-id"), "utf8")).trim();
  t.after(async () => {
    server.child.kill("SIGKILL");
    await waitExit(server.child);
    const rt = await createDockerRuntime({ ownerId, logger: quiet });
    await rt.reapOrphans(ownerId);
    await rt.close();
  });
  return { server, ownerId };
}

test("issue 12 #13: SIGTERM with an SSE log client connected closes the stream and exits 0", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-shutdown-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const server = await spawnServer(dataDir, { MESHAGENT_SECRET: SECRET });
  t.after(() => server.child.kill("SIGKILL"));
  const admin = await mintParticipantToken(SECRET, { room: "*", identity: "ops", role: "user", api: { admin: {} } as never, ttlSeconds: 600 });
  // An SSE reader that keeps its stream open (as Studio does).
  const streamEnded = new Promise<void>((resolve, reject) => {
    // The room's stream (a service's log stream answers 404 for a service the room does not have).
    const req = http.get(`${server.url}/accounts/projects/default/rooms/sse-room/stream?token=${admin}`, (res) => {
      assert.equal(res.statusCode, 200);
      res.on("data", () => {});
      res.on("close", () => resolve());
    });
    req.on("error", () => resolve());
    t.after(() => req.destroy());
    void reject;
  });
  await new Promise((r) => setTimeout(r, 300)); // let the stream open
  server.child.kill("SIGTERM");
  assert.equal(await exitWithin(server.child, 20_000), 0, `the server exits on SIGTERM; output:\n${server.output()}`);
  await streamEnded;
});

test("issue 12 #13: a second SIGTERM exits at once while the first waits for a service's 60 s grace period", async (t) => {
  const { server, ownerId } = await serverWithService(t, "grace-room", "stubborn", {
    container: { image: IMAGES.http, command: ["/usr/local/bin/node", "-e", "process.on('SIGTERM',()=>console.log('ignoring SIGTERM'));console.log('up');setInterval(()=>{},1000)"] },
    roomservice: { stop: { gracePeriodSeconds: 60 } },
  });
  const token = await mintParticipantToken(SECRET, { room: "grace-room", identity: "alice", role: "user", ttlSeconds: 600 });
  const alice = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${server.url.replace(/^http/, "ws")}/rooms/grace-room`, token }), reconnectTimeout: 0 });
  await alice.start();
  const container = await waitUntil("stubborn running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st[0]?.state === "running" ? (st[0].container_id as string) : null;
  });
  // "running" means the container runs; wait until node has installed its SIGTERM handler.
  await waitUntil("the service's handler is installed", () => docker("logs", container).includes("up"));
  await settle(alice);
  alice.dispose();
  server.child.kill("SIGTERM");
  // The first signal is being honoured: the service got its stop signal and is in its grace period.
  await waitUntil("the service got SIGTERM", () => docker("logs", container).includes("ignoring SIGTERM"), 20_000).catch((err) => {
    throw new Error(`${(err as Error).message}; server exit ${server.child.exitCode}; output:\n${server.output()}`);
  });
  assert.equal(server.child.exitCode, null, "still waiting for the grace period");
  server.child.kill("SIGTERM");
  const code = await exitWithin(server.child, 20_000);
  assert.equal(code, 130, `exits at once on the second signal; output:\n${server.output()}`);
  assert.ok(labelled(ownerId).length > 0, "(the stubborn container was left for the next start's reaping)");
});

test("a room stream open during shutdown gets what the services print on their way out before it ends", async (t) => {
  const { server } = await serverWithService(t, "bye-room", "polite", {
    container: { image: IMAGES.http, command: ["/usr/local/bin/node", "-e", "process.on('SIGTERM',()=>{console.log('got SIGTERM, bye');process.exit(0)});console.log('up');setInterval(()=>{},1000)"] },
  });
  const admin = await mintParticipantToken(SECRET, { room: "*", identity: "ops", role: "user", api: { admin: {} } as never, ttlSeconds: 600 });
  let text = "";
  const streamEnded = new Promise<void>((resolve) => {
    const req = http.get(`${server.url}/accounts/projects/default/rooms/bye-room/stream?token=${admin}`, (res) => {
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("close", () => resolve());
    });
    req.on("error", () => resolve());
    t.after(() => req.destroy());
  });
  const token = await mintParticipantToken(SECRET, { room: "bye-room", identity: "alice", role: "user", ttlSeconds: 600 });
  const alice = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${server.url.replace(/^http/, "ws")}/rooms/bye-room`, token }), reconnectTimeout: 0 });
  await alice.start();
  await waitUntil("the service's handler is installed", () => text.includes('"text":"up"'), 60_000);
  server.child.kill("SIGTERM");
  assert.equal(await exitWithin(server.child, 30_000), 0, `the server exits on SIGTERM; output:\n${server.output()}`);
  await streamEnded;
  assert.ok(text.includes('"text":"got SIGTERM, bye"'), `the stream carried the service's last line before it ended; got:\n${text.slice(-2000)}`);
  alice.dispose();
});
