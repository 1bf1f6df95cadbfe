import { test } from "node:test";
import { FakeClock } from "./fake-clock.ts";
import assert from "node:assert/strict";
import { startTestServer, sdk, settle, eventually } from "./helpers.ts";
import type { RoomEvent } from "../src/index.ts";

function recordEvents(ts: any): RoomEvent[] {
  const events: RoomEvent[] = [];
  ts.server.rooms.events.on("event", (e: RoomEvent) => events.push(e));
  return events;
}

test("a session starts with the first participant and ends after the departure timeout with its reason", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 300 });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const a = await ts.client("life", "alice");
  const sessionId = a.sessionId;
  assert.ok(sessionId, "room_ready carries the session id");
  const b = await ts.client("life", "bob");
  assert.equal(b.sessionId, sessionId, "second participant joins the same session");

  a.dispose();
  await settle(b);
  b.dispose();
  await eventually(() => events.some((e) => e.type === "session.ended"), 5000, "session end");
  const ended = events.find((e) => e.type === "session.ended") as Extract<RoomEvent, { type: "session.ended" }>;
  assert.equal(ended.sessionId, sessionId);
  assert.equal(ended.reason, "departure_timeout");
  assert.deepEqual(ended.participants, ["alice", "bob"]);
  const started = events.find((e) => e.type === "session.started")!;
  assert.ok(ended.at - started.at >= 300, "the session outlived its last participant by the departure timeout");

  const rec = (await ts.server.ctx.sessions.get(sessionId))!;
  assert.equal(rec.endReason, "departure_timeout");
  assert.deepEqual(rec.participants, ["alice", "bob"]);
  assert.ok(rec.endedAt! >= rec.startedAt);

  // The next participant starts a new session.
  const c = await ts.client("life", "carol");
  assert.notEqual(c.sessionId, sessionId);
});

test("reconnecting within the departure timeout keeps the session", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 1500 });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const a = await ts.client("keep", "alice");
  const first = a.sessionId;
  a.dispose();
  await new Promise((r) => setTimeout(r, 200));
  const again = await ts.client("keep", "alice");
  assert.equal(again.sessionId, first);
  await new Promise((r) => setTimeout(r, 1700));
  assert.ok(!events.some((e) => e.type === "session.ended"), "no session end while someone is connected");
});

test("a per-room departure timeout override applies", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 60_000 });
  t.after(() => ts.close());
  await ts.server.ctx.roomSettings.setDepartureTimeoutMs("quick", 100, Date.now());
  const events = recordEvents(ts);
  const a = await ts.client("quick", "alice");
  a.dispose();
  await eventually(() => events.some((e) => e.type === "session.ended" && e.room === "quick"), 5000, "quick room end");
});

test("a hold keeps the session open while server-side work runs, until released", async (t) => {
  const clock = new FakeClock();
  const ts = await startTestServer({ departureTimeoutMs: 100, clock });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const a = await ts.client("held", "alice");
  const room = ts.server.rooms.get("held")!;
  const hold = room.hold({ owner: { kind: "server", name: "test" }, reason: "test work", idleTimeoutMs: 60_000, onExpire: () => undefined });
  a.dispose();
  await eventually(() => room.connections.size === 0, 5000, "alice gone");
  clock.advance(10_000);
  assert.ok(!events.some((e) => e.type === "session.ended"), "held session stays open");
  hold.release();
  clock.advance(100);
  await eventually(() => events.some((e) => e.type === "session.ended"), 5000, "end after release");
});

test("50 clients connecting at once to a cold room create exactly one session", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => ts.token("herd", `p${i}`)));
  const clients = tokens.map(
    (token) =>
      new sdk.RoomClient({
        protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${ts.wsUrl}/rooms/herd`, token }),
        reconnectTimeout: 0,
      }),
  );
  t.after(async () => {
    for (const c of clients) {
      await settle(c);
      c.dispose();
    }
  });
  await Promise.all(clients.map((c) => c.start()));
  const ids = new Set(clients.map((c) => c.sessionId));
  assert.equal(ids.size, 1);
  assert.equal(events.filter((e) => e.type === "session.started").length, 1);
  assert.equal(ts.server.rooms.get("herd")!.connections.size, 50);
});

test("connections made with service tokens never keep a room alive, and their tokens die with the session", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 200 });
  t.after(() => ts.close());
  const events = recordEvents(ts);
  const alice = await ts.client("svc-token", "alice");
  const sessionId = alice.sessionId;
  const { mintParticipantToken } = await import("../src/index.ts");
  const serviceToken = await mintParticipantToken(ts.secret, {
    room: "svc-token", identity: "my-service", role: "agent", ttlSeconds: 3600, service: { sessionId, serviceId: "svc-1" },
  });
  const service = new sdk.RoomClient({
    protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${ts.wsUrl}/rooms/svc-token`, token: serviceToken }),
    reconnectTimeout: 0,
  });
  await service.start();
  assert.equal(service.sessionId, sessionId);
  const serviceClosed = service.waitForClose();

  await settle(alice);
  alice.dispose();
  await eventually(() => events.some((e) => e.type === "session.ended"), 5000, "session end despite the service connection");
  await serviceClosed;
  assert.equal(service.closeKind, "server", "the server closed the service connection when the session ended");

  // The same token is refused once its session is over.
  const { refusableClient } = await import("./helpers.ts");
  const late = refusableClient(`${ts.wsUrl}/rooms/svc-token`, serviceToken);
  await assert.rejects(late.start(), /403.*service token belongs to session .* which has ended/);
});
