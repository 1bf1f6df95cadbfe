import { test } from "node:test";
import assert from "node:assert/strict";
import { mintParticipantToken } from "../src/index.ts";
import { eventually, sdk, startTestServer, type TestServer } from "./helpers.ts";
import { twoClusterNodes } from "./cluster-nodes.ts";

// Lease semantics with in-process nodes (two servers of one cluster in this process): fencing
// when a lease is lost, one owner for a room whatever the race, and configuration changes
// reaching every node through LISTEN/NOTIFY. Losses are made in the database and noticed by
// the next renewal (every second); bounds are waited for.

async function twoNodes(t: { after(fn: () => Promise<void>): void }) {
  return await twoClusterNodes(t, "lease");
}

test("a node that loses a room's lease ends the room there and refuses its storage writes (fencing)", { timeout: 120_000 }, async (t) => {
  const { a, db } = await twoNodes(t);
  const client = await a.client("fenced", "alice");
  const sessionId = client.sessionId as string;
  const node = a.server.cluster!;
  assert.ok(node.router.token("fenced"), "node a holds the lease");
  const ended = new Promise<string>((resolve) => a.server.rooms.events.on("event", (e) => e.type === "session.ended" && e.room === "fenced" && resolve(e.reason)));
  // Another owner takes the row (as a node would after a's lease had lapsed): a larger token.
  await db.query("UPDATE room_leases SET node_id = 'another-node', token = nextval('room_lease_token') WHERE room = 'fenced'");
  assert.equal(await ended, "lease_lost");
  assert.equal(node.router.token("fenced"), null);
  assert.throws(() => a.server.rooms.fence!("fenced"), /no longer served by this node/);
  const rows = await db.query("SELECT end_reason FROM sessions WHERE id = $1", [sessionId]);
  await eventually(async () => (await db.query("SELECT end_reason FROM sessions WHERE id = $1", [sessionId])).rows[0]?.end_reason === "lease_lost", 10_000, "the session recorded as ended by lease loss");
  assert.ok(rows.rowCount === 1);
});

test("simultaneous first connections through two nodes: one owner, one session", { timeout: 120_000 }, async (t) => {
  const { a, b, db } = await twoNodes(t);
  const clients = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    const via = i % 2 === 0 ? a : b;
    const jwt = await mintParticipantToken(a.secret, { room: "race", identity: `p${i}`, role: "user", ttlSeconds: 600 });
    const c = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${via.wsUrl}/rooms/race`, token: jwt }), reconnectTimeout: 0 });
    await c.start();
    return c;
  }));
  try {
    const owners0 = await db.query("SELECT node_id, token FROM room_leases");
    assert.equal(new Set(clients.map((c) => c.sessionId)).size, 1, `every client is in one session: ${JSON.stringify(clients.map((c) => c.sessionId))} leases ${JSON.stringify(owners0.rows)} a=${a.server.cluster!.nodeId} ${a.server.rooms.get("race")?.session?.id} b=${b.server.cluster!.nodeId} ${b.server.rooms.get("race")?.session?.id}`);
    const owners = await db.query("SELECT node_id FROM room_leases WHERE room = 'race'");
    assert.equal(owners.rowCount, 1);
    const live = [a, b].filter((s) => s.server.rooms.get("race") !== undefined);
    assert.equal(live.length, 1, "the room exists on one node only");
    assert.equal(live[0]!.server.cluster!.nodeId, owners.rows[0].node_id);
  } finally {
    for (const c of clients) c.dispose();
  }
  // Once everyone left and the session ended, the lease is given back.
  await eventually(async () => (await db.query("SELECT 1 FROM room_leases WHERE room = 'race'")).rowCount === 0, 60_000, "the idle room's lease released");
});

test("a configuration change made through one node reaches the other at once (LISTEN/NOTIFY)", { timeout: 120_000 }, async (t) => {
  const { a, b } = await twoNodes(t);
  const admin = await mintParticipantToken(a.secret, { room: "admin", identity: "admin", role: "user", ttlSeconds: 600, api: { admin: {} } as never });
  assert.equal(b.server.ctx.roomSettings.departureTimeoutMs("tuned"), undefined);
  const r = await fetch(`${a.url}/accounts/projects/default/rooms/tuned/settings`, {
    method: "PUT", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: JSON.stringify({ departure_timeout_seconds: 42 }),
  });
  assert.ok(r.ok, await r.text());
  // Node b's in-memory settings were reloaded on the notification, with no request to b.
  await eventually(() => b.server.ctx.roomSettings.departureTimeoutMs("tuned") === 42_000, 10_000, "node b sees the new departure timeout");
  // Deleting the room deletes its settings: node b forgets them too.
  const del = await fetch(`${a.url}/accounts/projects/default/rooms/tuned`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } });
  assert.ok(del.ok, await del.text());
  await eventually(() => b.server.ctx.roomSettings.departureTimeoutMs("tuned") === undefined, 10_000, "node b forgot the deleted room's departure timeout");
});

test("an owner that does not answer is listed from the store: its session, open participants, health unknown", { timeout: 120_000 }, async (t) => {
  const { a, b, db } = await twoNodes(t);
  const client = await a.client("quiet-owner", "alice");
  const admin = await mintParticipantToken(a.secret, { room: "admin", identity: "admin", role: "user", ttlSeconds: 600, api: { admin: {} } as never });
  const listThroughB = async () => ((await (await fetch(`${b.url}/accounts/projects/default/rooms`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { rooms: { name: string; live: any }[] }).rooms.find((r) => r.name === "quiet-owner")?.live;
  // Asked of the owner: its own view.
  await eventually(async () => (await listThroughB())?.health === "none", 20_000, "node b lists the room as node a sees it");
  // Node a's advertised address now leads nowhere (a port nothing listens on).
  await db.query("UPDATE cluster_nodes SET url = 'http://127.0.0.1:9' WHERE node_id = $1", [a.server.cluster!.nodeId]);
  await eventually(async () => {
    const live = await listThroughB();
    return live?.session_id === client.sessionId && live.health === "unknown" && live.participants === 1;
  }, 30_000, "node b falls back to the store's record of the room");
});
