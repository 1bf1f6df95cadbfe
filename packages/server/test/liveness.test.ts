/**
 * Issue #12 items 19 and 20: nothing keeps a room alive that should not — a service's upload,
 * an abandoned or trickling upload, a client that died without a close frame. Time is the
 * subject here, so the server runs on a FakeClock and the tests advance it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { startTestServer, settle, eventually, sdk, guardedFactory, type TestServer } from "./helpers.ts";
import { connectRaw } from "./raw-client.ts";
import { FakeClock } from "./fake-clock.ts";
import { mintParticipantToken, type RoomEvent } from "../src/index.ts";
import { DEFAULT_LIMITS } from "../src/config.ts";

/** The documented bounds (README "Sessions"); the tests check the code uses them. */
const UPLOAD_IDLE_MS = 30_000;
const IDLE_PING_MS = 15_000;
const PING_TIMEOUT_MS = 15_000;

function recordEvents(ts: TestServer): RoomEvent[] {
  const events: RoomEvent[] = [];
  ts.server.rooms.events.on("event", (e: RoomEvent) => events.push(e));
  return events;
}

const tempFiles = (ts: TestServer, room: string) => readdir(join(ts.dataDir, "rooms", room, ".tmp")).catch(() => [] as string[]);

/** A chunk source the test feeds by hand; `end()` finishes it. */
function feeder(): { chunks: AsyncIterable<Uint8Array>; feed(b: Uint8Array): void; end(): void } {
  const queue: Array<Uint8Array | null> = [];
  let wake: (() => void) | null = null;
  return {
    chunks: (async function* () {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const c = queue.shift()!;
        if (c === null) return;
        yield c;
      }
    })(),
    feed(b) {
      queue.push(b);
      wake?.();
    },
    end() {
      queue.push(null);
      wake?.();
    },
  };
}

test("item 19: a service's stalled upload does not keep the room alive; the session ends and the temp file is removed", async (t) => {
  const clock = new FakeClock();
  const ts = await startTestServer({ departureTimeoutMs: 1000, clock });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const alice = await ts.client("svc-up", "alice");
  const room = ts.server.rooms.get("svc-up")!;
  const token = await mintParticipantToken(ts.secret, {
    room: "svc-up", identity: "agent", role: "agent", ttlSeconds: 3600, service: { sessionId: room.session!.id, serviceId: "svc-1" },
  });
  const svc = new sdk.RoomClient({ protocolFactory: guardedFactory(`${ts.wsUrl}/rooms/svc-up`, token), reconnectTimeout: 0 });
  await svc.start();
  t.after(() => svc.dispose());
  const f = feeder();
  const upload = svc.storage.uploadStream("stalled.bin", f.chunks, { size: 1_000_000 }).then(() => "ok", (e: Error) => e.message);
  f.feed(new Uint8Array([1]));
  await eventually(async () => (await tempFiles(ts, "svc-up")).length === 1, 5000, "the upload's temp file");
  assert.equal(room.holdCount, 0, "a service's upload holds nothing");

  await settle(alice);
  alice.dispose();
  await eventually(() => room.connections.size === 1, 5000, "alice gone, the service still connected");
  clock.advance(1000); // the departure timeout
  await eventually(() => events.some((e) => e.type === "session.ended" && e.room === "svc-up"), 5000, "session end");
  await eventually(async () => (await tempFiles(ts, "svc-up")).length === 0, 5000, "temp file removed");
  assert.notEqual(await upload, "ok");
  await eventually(() => ts.server.rooms.get("svc-up") === undefined, 5000, "room released");
});

test("item 19: a participant's trickling upload is aborted after the idle bound, its temp file removed and its hold released", async (t) => {
  const clock = new FakeClock();
  const ts = await startTestServer({ departureTimeoutMs: 1000, clock });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const alice = await ts.client("trickle", "alice");
  const room = ts.server.rooms.get("trickle")!;
  const f = feeder();
  let outcome: string | null = null;
  void alice.storage.uploadStream("slow.bin", f.chunks, { size: 1_000_000 }).then(() => (outcome = "ok"), (e: Error) => (outcome = e.message));
  // One byte per (fake) second.
  let fed = 0;
  for (let s = 0; s < 2 * UPLOAD_IDLE_MS / 1000 && outcome === null; s++) {
    f.feed(new Uint8Array([s & 0xff]));
    fed++;
    await eventually(async () => {
      const tmp = await tempFiles(ts, "trickle");
      return outcome !== null || (tmp.length === 1 && room.holdCount === 1);
    }, 5000, "upload running");
    await new Promise((r) => setTimeout(r, 5)); // let the server take the byte
    clock.advance(1000);
  }
  await eventually(() => outcome !== null, 5000, "upload aborted");
  assert.match(outcome!, /made no progress .* for 30 s; upload aborted/);
  assert.ok(fed >= UPLOAD_IDLE_MS / 1000 && fed <= UPLOAD_IDLE_MS / 1000 + 2, `aborted at the bound (after ${fed} s)`);
  await eventually(async () => (await tempFiles(ts, "trickle")).length === 0, 5000, "temp file removed");
  assert.equal(room.holdCount, 0);
  // Nothing holds the room any more: alice leaves and the session ends on time.
  await settle(alice);
  alice.dispose();
  await eventually(() => room.connections.size === 0, 5000, "alice gone");
  clock.advance(1000);
  await eventually(() => events.some((e) => e.type === "session.ended"), 5000, "session end");
});

test("item 19: hold() refuses once the session has ended", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("ended", "alice");
  const room = ts.server.rooms.get("ended")!;
  const h = room.hold({ owner: { kind: "server", name: "t" }, reason: "work", idleTimeoutMs: 60_000, onExpire: () => undefined });
  room.endSession("server_shutdown");
  assert.equal(h.released, true, "the session's end releases its holds");
  assert.throws(() => room.hold({ owner: { kind: "server", name: "t" }, reason: "late work", idleTimeoutMs: 1000, onExpire: () => undefined }), /has no live session; late work refused/);
  await settle(alice);
});

test("item 20: a client that stops answering pings is dropped within idlePingMs + pingTimeoutMs; a live one stays", async (t) => {
  const clock = new FakeClock();
  const ts = await startTestServer({ departureTimeoutMs: 1000, clock });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const live = await ts.client("pings", "live");
  const dead = await connectRaw(ts.wsUrl, "pings", await ts.token("pings", "dead"), { autoPong: false });
  t.after(() => dead.ws.terminate());
  let pings = 0;
  dead.ws.on("ping", () => pings++);
  const room = ts.server.rooms.get("pings")!;
  await eventually(() => room.connections.size === 2, 5000, "both connected");
  const liveConn = [...room.connections.values()].find((c) => c.identity === "live")!;

  clock.advance(IDLE_PING_MS);
  await eventually(() => pings === 1, 5000, "the silent client is pinged");
  await eventually(() => liveConn.lastHeard === clock.now(), 5000, "the live client's pong");
  clock.advance(PING_TIMEOUT_MS - 1);
  assert.equal(room.connections.size, 2, "not dropped before the bound");
  clock.advance(1);
  await eventually(() => room.connections.size === 1, 5000, "dead client dropped");
  assert.ok([...room.connections.values()].every((c) => c.identity === "live"));
  assert.ok(events.some((e) => e.type === "participant.left" && e.identity === "dead"));
  assert.equal((await dead.closed).code, 1006, "dropped without a close handshake");
  assert.deepEqual({ idle: (DEFAULT_LIMITS as any).idlePingMs, timeout: (DEFAULT_LIMITS as any).pingTimeoutMs }, { idle: IDLE_PING_MS, timeout: PING_TIMEOUT_MS }, "the documented bound (≤ 30 s) is the default");

  // The live client keeps answering: it was pinged again at this instant (silent for
  // idlePingMs), and each further round pings and hears a pong without dropping it.
  for (let i = 0; i < 4; i++) {
    await eventually(() => liveConn.lastHeard === clock.now(), 5000, `pong ${i}`);
    clock.advance(PING_TIMEOUT_MS);
  }
  assert.equal(room.connections.size, 1);
  assert.equal(live.isClosed ?? false, false);
  await settle(live);
});

test("item 20: an SDK client whose process is stopped (SIGSTOP) is dropped, and the session then ends on the departure timer", async (t) => {
  const clock = new FakeClock();
  const ts = await startTestServer({ departureTimeoutMs: 1000, clock });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const token = await ts.token("stopped", "frozen");
  // A separate process with the real SDK, so SIGSTOP freezes the client and nothing else.
  const code = `
    const { createRequire } = require("node:module");
    const sdk = createRequire(${JSON.stringify(import.meta.filename)})("@meshagent/meshagent");
    const client = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: process.argv[1], token: process.argv[2] }), reconnectTimeout: 0 });
    client.start().then(() => console.log("connected"), (e) => { console.error(e); process.exit(1); });
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["-e", code, `${ts.wsUrl}/rooms/stopped`, token], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => void child.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => String(d).includes("connected") && resolve());
    child.once("exit", (c) => reject(new Error(`client exited with ${c}`)));
  });
  const room = ts.server.rooms.get("stopped")!;
  assert.equal(room.connections.size, 1);
  const conn = [...room.connections.values()][0]!;
  // While it runs, it answers pings.
  clock.advance(IDLE_PING_MS);
  await eventually(() => conn.lastHeard === clock.now(), 5000, "pong from the running client");
  clock.advance(PING_TIMEOUT_MS);
  assert.equal(room.connections.size, 1, "a live client is kept");
  // Frozen: the kernel keeps its TCP connection open, but nothing answers.
  child.kill("SIGSTOP");
  await new Promise((r) => setTimeout(r, 100)); // let an in-flight pong land before the freeze counts
  const lastHeard = conn.lastHeard; // it was pinged again at this instant and may have answered
  for (let i = 0; i < 4 && room.connections.size > 0; i++) {
    clock.advance(PING_TIMEOUT_MS); // the drop happens inside the timer, synchronously
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(room.connections.size, 0, "frozen client dropped");
  assert.ok(clock.now() - lastHeard <= IDLE_PING_MS + PING_TIMEOUT_MS, `dropped ${clock.now() - lastHeard} ms after it was last heard`);
  assert.ok(events.some((e) => e.type === "participant.left" && e.identity === "frozen"));
  clock.advance(1000); // the departure timeout
  await eventually(() => events.some((e) => e.type === "session.ended" && e.room === "stopped"), 5000, "session end");
  child.kill("SIGKILL");
});

test("a stall of the server's own event loop does not drop a client whose pong arrived during it (issue #10: 1006 under load)", async (t) => {
  // Real clock, short bounds: the client's pong reaches the server while the process is
  // blocked, and the keepalive timer is overdue when the loop resumes. Timers run before
  // sockets are read; the verdict must wait for the read.
  const ts = await startTestServer({ departureTimeoutMs: 1000, limits: { idlePingMs: 200, pingTimeoutMs: 200 } });
  t.after(() => ts.close());
  const client = await connectRaw(ts.wsUrl, "stall", await ts.token("stall", "slow-server"));
  t.after(() => client.ws.terminate());
  const room = ts.server.rooms.get("stall")!;
  await eventually(() => room.connections.size === 1, 5000, "connected");
  let stalls = 0;
  client.ws.on("ping", () => {
    // ws has queued the pong already; now hold this whole process (server included) past the ping timeout.
    if (stalls++ >= 3) return;
    const until = Date.now() + 400;
    while (Date.now() < until) { /* a blocked event loop */ }
  });
  await eventually(() => stalls >= 3, 10_000, "three pings answered across stalls");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(room.connections.size, 1, "still connected: the pongs were read before the verdict");
  assert.equal(client.ws.readyState, client.ws.OPEN);
});
