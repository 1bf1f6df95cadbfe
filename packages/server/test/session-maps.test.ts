/**
 * Issue 10 figure 6 (structural half; the 1,000-session memory figure is in bench/): after a
 * session with a running service ends, nothing per session or per room stays in the server's
 * memory — no live room, launcher session, activity feed/session/item, stream, runtime
 * sandbox, previous CPU reading of a sampled service — and the room's namespace is gone (only
 * the pool's ready ones remain); listeners on the server's long-lived emitters do not grow
 * with the sessions.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createSandboxRuntime } from "@roomservice/runtime";
import { eventually, settle, startTestServer } from "./helpers.ts";

const ECHO = join(fileURLToPath(new URL("../../..", import.meta.url)), "examples", "http-echo", "server.mjs");

test("per-session state is emptied when each session ends (sandbox runtime with a pool)", async (t) => {
  const ownerId = `test-maps-${randomBytes(4).toString("hex")}`;
  const prefix = `rs-${createHash("sha256").update(ownerId).digest("hex").slice(0, 10)}-`;
  const ours = () => execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(prefix));
  const logger = pino({ level: "silent" });
  const runtime = await createSandboxRuntime({ ownerId, logger, poolSize: 2 });
  // Stats sampled every 20 ms, so every session's service is sampled at least once.
  const ts = await startTestServer({ runtime, logger, departureTimeoutMs: 0, activityLimits: { statsIntervalMs: 20 } });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans();
  });
  await ts.server.services.create("default", null, "web", {
    version: "v1", kind: "Service", metadata: { name: "web" },
    container: { image: "host", command: `${process.execPath} ${ECHO}`, environment: [{ name: "PORT", value: "8080" }] },
    ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
  }, Date.now());

  // Listeners on the emitters that live as long as the server (and on the process).
  const s = ts.server;
  const emitters = { process, rooms: s.rooms.events, activity: s.launcher.activity, stopped: s.launcher.stopped, serviceStarted: s.launcher.serviceStarted, changes: s.services.changes } as Record<string, NodeJS.EventEmitter>;
  const listeners = () => Object.fromEntries(Object.entries(emitters).map(([k, e]) => [k, e.eventNames().reduce((n, ev) => n + e.listenerCount(ev), 0)]));
  let afterFirst: Record<string, number> | null = null;
  for (let i = 0; i < 3; i++) {
    const room = `maps-${i}`;
    const c = await ts.client(room, "alice");
    await eventually(async () => (await ts.server.launcher.list(room)).service_states[0]?.state === "running", 30_000, `room ${room}'s service running`);
    const netns = ts.server.launcher.netnsPath(room)!.split("/").pop()!;
    assert.equal(runtime.liveSessions, 1);
    await eventually(() => runtime.statsTracked === 1, 10_000, `room ${room}'s service sampled`);
    await settle(c);
    c.dispose();
    await eventually(() => ts.server.rooms.get(room) === undefined && ts.server.launcher.liveSession(room) === undefined && runtime.liveSessions === 0, 30_000, `room ${room}'s session over`);
    assert.deepEqual(ts.server.activity.held, { feeds: 0, sessions: 0, items: 0 }, "no activity feed, session or item held");
    assert.equal(ts.server.rooms.list().length, 0, "no room object");
    assert.equal(ts.server.streams.size, 0, "no stream");
    assert.ok(!ours().includes(netns), "the session's namespace is deleted, not kept for another session");
    assert.equal(runtime.statsTracked, 0, "no previous CPU reading kept for the ended session's service");
    if (afterFirst === null) afterFirst = listeners();
    else assert.deepEqual(listeners(), afterFirst, "listeners on long-lived emitters do not grow with sessions");
  }
  await eventually(() => runtime.pooled === 2, 20_000, "pool refilled");
  assert.equal(ours().length, 2, "only the pool's ready namespaces remain");
});
