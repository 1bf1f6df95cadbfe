/**
 * The sandbox runtime's pool of ready room namespaces (issue 10 figure 4): a session takes a
 * namespace whose probe helper and Room API listener already exist; a namespace serves one
 * session only (the next session never sees what the previous one left listening); reaping
 * spares the pool; close() removes it. And `onLost`: a room whose namespace is deleted from
 * outside is reported, and starts nothing more.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createSandboxRuntime, type SandboxRuntime, type ServiceLaunchSpec } from "../src/index.ts";
import { collectLogs, resultLine, spec as dockerSpec, testLogger, waitFor } from "./helpers.ts";

const APP = fileURLToPath(new URL("./fixtures/app", import.meta.url));
const ownerId = `test-sbxpool-${randomBytes(4).toString("hex")}`;
/** The runtime names its namespaces rs-<sha256(owner)[0..10]>-… */
const prefix = `rs-${createHash("sha256").update(ownerId).digest("hex").slice(0, 10)}-`;
let rt: SandboxRuntime;

function spec(id: string, script: string, over: Partial<ServiceLaunchSpec> = {}): ServiceLaunchSpec {
  return dockerSpec(id, script, { image: "host", command: [process.execPath, `${APP}/${script}`], resources: {}, ...over });
}

/** Our owner's namespaces, as `ip netns list` shows them. */
function ours(): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(prefix)).sort();
}

before(async () => {
  rt = await createSandboxRuntime({ ownerId, logger: testLogger({ owner: ownerId }), poolSize: 2 });
});
after(async () => {
  await rt.close();
  await rt.reapOrphans();
});

test("a session takes a pooled namespace with its Room API listener open; the next session gets a fresh one; reaping spares the pool; close removes it", async () => {
  rt.prewarm();
  await waitFor("pool filled", () => rt.pooled === 2);
  const pooled = ours();
  assert.equal(pooled.length, 2, "two pooled namespaces exist");
  const reaped = await rt.reapOrphans();
  assert.equal(reaped.networks, 0, "pooled namespaces are not orphans");
  assert.deepEqual(ours(), pooled);

  // Session 1: its namespace is one of the pooled ones, the listener was pre-opened there.
  const s1 = await rt.createRoomSandbox({ room: "pool-a", sessionId: "s1" });
  const ns1 = s1.netnsPath.split("/").pop()!;
  assert.ok(pooled.includes(ns1), "session 1 runs in a pooled namespace");
  const listener = await rt.openRoomApiListener(s1, 8078);
  const app = http.createServer((req, res) => res.end(`pooled api saw ${req.url}`));
  listener.on("connection", (sock) => app.emit("connection", sock));
  try {
    const caller = s1.startService(spec("caller", "client.js", { env: { HTTP_PORT: "8078", HTTP_PATH: "/hi" } }));
    assert.deepEqual((await resultLine(collectLogs(caller))).http, { ok: true, body: "pooled api saw /hi" });
    // Session 1 leaves a server listening on 9300 of its loopback.
    const web = s1.startService(spec("web", "http.js", { env: { PORT: "9300", NAME: "session-1" }, ports: [{ num: 9300, type: "http", livenessPath: "/healthz" }] }));
    await waitFor("web running", () => web.status().state === "running");
  } finally {
    listener.close();
    app.close();
    await s1.stop();
  }
  assert.ok(!existsSync(s1.netnsPath), "a session's namespace is deleted when it ends, never returned to the pool");
  await waitFor("pool refilled", () => rt.pooled === 2);
  assert.ok(!ours().includes(ns1));

  // Session 2 gets another namespace: nothing of session 1 is reachable there.
  const s2 = await rt.createRoomSandbox({ room: "pool-a", sessionId: "s2" });
  try {
    assert.notEqual(s2.netnsPath, s1.netnsPath);
    const probe = s2.startService(spec("probe", "client.js", { env: { HTTP_PORT: "9300", TRIES: "2" } }));
    assert.equal((await resultLine(collectLogs(probe))).http!.error, "ECONNREFUSED", "session 1's listener is not in session 2's namespace");
  } finally {
    await s2.stop();
  }

  await rt.close();
  assert.deepEqual(ours(), [], "close() removed the pool");
  rt = await createSandboxRuntime({ ownerId, logger: testLogger({ owner: ownerId }) });
});

test("a room whose namespace is deleted from outside is reported lost and starts nothing more", async () => {
  const sb = await rt.createRoomSandbox({ room: "lost-room", sessionId: "s-lost" });
  try {
    const lost = new Promise<string>((resolve) => sb.onLost!(resolve));
    execFileSync("ip", ["netns", "del", sb.netnsPath.split("/").pop()!]);
    const reason = await lost;
    assert.match(reason, /network namespace .* was deleted from outside Roomservice/);
    const h = sb.startService(spec("late", "http.js", { env: { PORT: "9400" } }));
    await waitFor("FailedStart", () => h.status().events.find((e) => e.reason === "FailedStart"));
    assert.notEqual(h.status().state, "running");
    let again: string | null = null;
    sb.onLost!((r) => (again = r));
    assert.equal(again, reason, "a listener added after the loss hears it at once");
  } finally {
    await sb.stop();
  }
  assert.deepEqual(ours(), []);
});
