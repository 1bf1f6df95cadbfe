/**
 * The room snapshot (`GET .../rooms/{room}/live`, the first message of every room stream) lists
 * a session's services from the moment the session starts. A session reads its services from
 * the store as it starts; a snapshot taken before that read answered used to list none.
 * No container runtime here: the services then fail to start, but they are listed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { settle, startTestServer } from "./helpers.ts";
import { manifest } from "./services-env.ts";
import type { RoomLive } from "@roomservice/protocol";

test("a snapshot taken as a session starts lists the session's services, even while the store is slow to answer", async (t) => {
  const ts = await startTestServer({ runtime: null, departureTimeoutMs: 200 });
  t.after(() => ts.close());
  const room = "snap";
  for (const name of ["alpha", "beta"]) await ts.server.services.create("default", room, name, manifest(name, "example/none:1"), Date.now());
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;

  // The store answers the session's read 300 ms late (a loaded PostgreSQL, say).
  const store = ts.server.services;
  const forRoom = store.forRoom.bind(store);
  let slow = false;
  store.forRoom = async (...args: Parameters<typeof forRoom>) => {
    const answer = await forRoom(...args);
    if (slow) await new Promise((r) => setTimeout(r, 300));
    return answer;
  };

  // Snapshots taken in the very turn the session starts, and over REST right after.
  const early: Promise<RoomLive>[] = [];
  ts.server.rooms.events.on("event", (e) => {
    if (e.type === "session.started" && e.room === room) early.push(ts.server.activity.snapshot(room));
  });
  slow = true;
  const alice = await ts.client(room, "alice");
  const rest = await fetch(`${ts.url}/accounts/projects/default/rooms/${room}/live`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(rest.status, 200);
  const viaRest = (await rest.json()) as RoomLive;
  assert.equal(early.length, 1);
  for (const snap of [await early[0]!, viaRest]) {
    assert.equal(snap.session?.id, alice.sessionId);
    assert.deepEqual(snap.services.map((s) => s.name).sort(), ["alpha", "beta"], "the session's services are listed");
    // No runtime: they are listed as what they are (pending, or failed to start), never left out.
    for (const s of snap.services) assert.ok(["pending", "failed"].includes(s.state), `${s.name} is ${s.state}`);
  }
  slow = false;

  // An idle room lists its configured services, stopped.
  await settle(alice);
  alice.dispose();
  const deadline = Date.now() + 10_000;
  while (ts.server.rooms.get(room) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const idle = await ts.server.activity.snapshot(room);
  assert.equal(idle.session, null);
  assert.deepEqual(idle.services.map((s) => [s.name, s.state]).sort(), [["alpha", "stopped"], ["beta", "stopped"]]);
});
