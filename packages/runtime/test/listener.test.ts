/**
 * openRoomApiListener (a docker detail): a second listener on the room's 8078 fails clearly.
 * Services reaching the Room API at its URL is checked for every runtime by the conformance
 * suite (conformance/suite.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { HelperSpawnLimit, openListenerInNetns } from "../src/index.ts";
import { setup, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

test("listening on a port already taken in the room fails with a clear error", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "api-room", sessionId: "s-api-2" });
  try {
    const first = await env.runtime.openRoomApiListener(sb, 8078);
    await assert.rejects(env.runtime.openRoomApiListener(sb, 8078), /EADDRINUSE/);
    await new Promise((r) => first.close(r));
  } finally {
    await sb.stop();
  }
});

test("listeners go through the runtime's helper start-up limit: queued while it is full, started when a slot frees", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "api-room", sessionId: "s-api-3" });
  const limit = new HelperSpawnLimit({ maxConcurrent: 1 });
  const release = await limit.acquire("test holder");
  try {
    let opened = false;
    const listening = openListenerInNetns(limit, sb.netnsPath, "127.0.0.1", 9125).then((s) => { opened = true; return s; });
    await new Promise((r) => setImmediate(r));
    assert.equal(limit.queued, 1, "the listener waits for a slot instead of spawning its helper");
    assert.equal(opened, false);
    release();
    const server = await listening;
    assert.equal(limit.active, 0, "the slot is given back once the socket is handed over");
    await new Promise((r) => server.close(r));
  } finally {
    release();
    await sb.stop();
  }
});

test("a room's probe helper also opens its listeners: one helper process per namespace, and the socket answers inside it", async () => {
  const { readdirSync, readFileSync, statSync } = await import("node:fs");
  const { NetnsProber } = await import("../src/index.ts");
  const sb = await env.runtime.createRoomSandbox({ room: "api-room", sessionId: "s-api-4" });
  try {
    const server = await env.runtime.openRoomApiListener(sb, 9126);
    server.on("connection", (s) => s.end());
    const ns = statSync(sb.netnsPath).ino;
    const helpers = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
      try {
        if (statSync(`/proc/${pid}/ns/net`).ino !== ns) return [];
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return /probe-child|listen-child|connect-child/.test(cmd) && !cmd.startsWith("nsenter") ? [cmd.split("\0").at(-2) ?? cmd] : [];
      } catch {
        return [];
      }
    });
    assert.equal(helpers.length, 1, `helpers in the namespace: ${JSON.stringify(helpers)}`);
    assert.match(helpers[0]!, /probe-child\.js$/);
    const prober = new NetnsProber(sb.netnsPath, { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } }, new HelperSpawnLimit());
    try {
      assert.deepEqual(await prober.check({ kind: "tcp", port: 9126 }, 2000), { ok: true, error: undefined, status: undefined });
    } finally {
      prober.close();
    }
    await new Promise((r) => server.close(r));
  } finally {
    await sb.stop();
  }
});
