import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import pino from "pino";
import { createDockerRuntime, DockerEngine, ensurePauseImage, PAUSE_IMAGE } from "@roomservice/runtime";
import { systemClock } from "../src/config.ts";
import { ConfigBus, type ConfigChange } from "../src/cluster/config-bus.ts";
import { LeaseTable } from "../src/cluster/leases.ts";
import { HEALTH_DB_ERROR, LIVE_ROOMS_PATH } from "../src/cluster/listings.ts";
import { ForeignReaper } from "../src/cluster/reaper.ts";
import { eventually, startTestServer, type TestServer } from "./helpers.ts";
import { startPgServer, type PgServer } from "./pg-server.ts";
import { docker, labelled } from "./services-env.ts";

// Hardening of cluster mode (a code review's findings): the lease round is not starved by
// public /healthz callers, a takeover waits only for its own room's containers, the internal
// live-rooms route parses its body strictly, long-dead nodes' rows are forgotten, and the
// LISTEN connection notices a network that silently drops its packets. In-process nodes on a
// private PostgreSQL; losses and ages are made in the database, and events are waited for.

const timing = { leaseTtlMs: 30_000, renewIntervalMs: 1000, unusedGraceMs: 1000 };
const logger = pino({ level: process.env.ROOMSERVICE_TEST_LOG ?? "silent" });

async function oneNode(t: { after(fn: () => Promise<void>): void }): Promise<{ a: TestServer; db: pg.Pool; pgs: PgServer; url: string }> {
  const pgs = await startPgServer();
  const url = await pgs.createDatabase("hardening");
  const shared = await mkdtemp(join(tmpdir(), "rs-cluster-shared-"));
  const a = await startTestServer({ secret: "hardening-test-secret-0123456789", cluster: { databaseUrl: url, sharedDir: shared, timing } });
  const db = new pg.Pool({ connectionString: url, max: 3 });
  db.on("error", () => undefined);
  t.after(async () => {
    await a.close();
    await db.end();
    await pgs.stop().catch(() => undefined);
    await rm(shared, { recursive: true, force: true });
  });
  return { a, db, pgs, url };
}

const leaseExpiry = async (db: pg.Pool, room: string): Promise<number> =>
  Number((await db.query<{ ms: string }>("SELECT (extract(epoch FROM expires_at) * 1000)::bigint::text AS ms FROM room_leases WHERE room = $1", [room])).rows[0]?.ms ?? 0);

test("a flood of /healthz while its query hangs: the lease is still renewed, callers get a generic error", { timeout: 120_000 }, async (t) => {
  const { a, db, pgs } = await oneNode(t);
  await a.client("busy", "alice");
  await eventually(async () => Number(await leaseExpiry(db, "busy")) > 0, 10_000, "the room's lease row");
  // The health count reads `sessions`: hold a lock on it so every health query hangs (as on a
  // loaded or half-reachable database). The lease renewal does not touch `sessions`.
  const locker = await db.connect();
  try {
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE");
    const flood = Array.from({ length: 200 }, () => fetch(`${a.url}/healthz`).then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> })));
    // Before: every one of these was a query on the node's 8-connection pool, all hung, and
    // the renewal waited for a connection past its trust window. Now: one query, and the
    // round has its own connections.
    const before = Number(await leaseExpiry(db, "busy"));
    await eventually(async () => Number(await leaseExpiry(db, "busy")) > before, 20_000, "the lease renewed while /healthz callers wait");
    const waiting = (await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM sessions s JOIN room_leases%'")).rows[0]!.n;
    // One query for the whole flood (a second only if the first timed out and the cache expired
    // meanwhile: its backend waits on the lock until the lock goes); before, the pool's 8.
    assert.ok(waiting <= 2, `one health query waits for the lock, not one per caller (${waiting})`);
    const answers = await Promise.all(flood);
    for (const r of answers) {
      assert.equal(r.status, 200);
      assert.equal(r.body.error, HEALTH_DB_ERROR);
      assert.equal(r.body.rooms, null);
      assert.equal(r.body.local_rooms, 1);
    }
    assert.ok(a.server.cluster!.router.token("busy") !== null, "the node still holds the room");
  } finally {
    await locker.query("ROLLBACK").catch(() => undefined);
    locker.release();
  }
  await eventually(async () => ((await (await fetch(`${a.url}/healthz`)).json()) as { rooms: number | null }).rooms === 1, 20_000, "health counts again once the query answers");
  // The database goes away: the answer names no host, port, user or driver error.
  await pgs.stop();
  let body = "";
  await eventually(async () => (body = await (await fetch(`${a.url}/healthz`)).text()).includes('"error"'), 30_000, "health reports the database down");
  assert.equal((JSON.parse(body) as { error: string }).error, HEALTH_DB_ERROR);
  for (const leak of ["127.0.0.1", String(pgs.port), "ECONNREFUSED", "roomservice@", "terminating"]) assert.ok(!body.includes(leak), `no "${leak}" in ${body}`);
});

test("POST /cluster/live-rooms: strict body with errors[], and room names that are Object.prototype keys", { timeout: 60_000 }, async (t) => {
  const { a } = await oneNode(t);
  const jwt = await a.token("*", "node:other", { api: { admin: {} } });
  const post = async (body: unknown) => {
    const r = await fetch(`${a.url}/accounts/projects/default${LIVE_ROOMS_PATH}`, { method: "POST", headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() as any };
  };
  const bad = await post({ names: ["ok", 7], extra: true });
  assert.equal(bad.status, 400);
  const paths = (bad.body.errors as { path: string }[]).map((e) => e.path).sort();
  assert.ok(paths.includes("names[1]"), `the wrong element is named: ${JSON.stringify(bad.body.errors)}`);
  assert.ok(JSON.stringify(bad.body.errors).includes("extra"), `the unknown field is named: ${JSON.stringify(bad.body.errors)}`);
  const e = (bad.body.errors as { path: string; expected: string; got?: string; received?: string }[]).find((x) => x.path === "names[1]")!;
  assert.match(e.expected, /string/);
  assert.equal((await post({ names: "x" })).status, 400);
  assert.equal((await post({ names: Array.from({ length: 1001 }, (_, i) => `r${i}`) })).status, 400);
  // Caller-chosen names used as keys: each is answered as its own (not live) room.
  await a.client("constructor", "alice");
  const ok = await post({ names: ["__proto__", "constructor", "toString", "hasOwnProperty"] });
  assert.equal(ok.status, 200);
  assert.deepEqual(Object.keys(ok.body.rooms).sort(), ["__proto__", "constructor", "hasOwnProperty", "toString"]);
  assert.equal(ok.body.rooms.__proto__, null);
  assert.equal(ok.body.rooms.toString, null);
  assert.equal(typeof ok.body.rooms.constructor.session_id, "string", "the live room named constructor is described");
});

test("the sweep forgets nodes and leases dead past the retention, keeps recent ones, and a forgotten live node registers again", { timeout: 60_000 }, async (t) => {
  const { a, db } = await oneNode(t);
  const self = a.server.cluster!.nodeId;
  await db.query(`INSERT INTO cluster_nodes (node_id, url, started_at, last_seen) VALUES
    ('ghost', 'http://127.0.0.1:1', now() - interval '3 days', now() - interval '2 days'),
    ('recent', 'http://127.0.0.1:2', now() - interval '3 hours', now() - interval '1 hour')`);
  await db.query(`INSERT INTO room_leases (room, node_id, token, acquired_at, expires_at) VALUES
    ('ghost-room', 'ghost', nextval('room_lease_token'), now() - interval '2 days', now() - interval '2 days'),
    ('recent-room', 'recent', nextval('room_lease_token'), now() - interval '1 hour', now() - interval '1 hour'),
    ('orphan-room', 'never-registered', nextval('room_lease_token'), now() - interval '5 days', now() - interval '5 days')`);
  const rows = async () => ({
    nodes: (await db.query<{ node_id: string }>("SELECT node_id FROM cluster_nodes ORDER BY node_id")).rows.map((r) => r.node_id),
    leases: (await db.query<{ room: string }>("SELECT room FROM room_leases ORDER BY room")).rows.map((r) => r.room),
  });
  await eventually(async () => {
    const r = await rows();
    return !r.nodes.includes("ghost") && !r.leases.includes("ghost-room") && !r.leases.includes("orphan-room");
  }, 20_000, "the long-dead node, its lease and an orphan lease deleted");
  const r = await rows();
  assert.ok(r.nodes.includes("recent") && r.leases.includes("recent-room"), `a node dead for an hour is kept: ${JSON.stringify(r)}`);
  assert.ok(r.nodes.includes(self));
  // A live node whose row another node forgot (it was partitioned for a day) appears again.
  await db.query("DELETE FROM cluster_nodes WHERE node_id = $1", [self]);
  await eventually(async () => (await rows()).nodes.includes(self), 20_000, "the node's row re-created by its heartbeat");
});

test("the LISTEN connection behind a network that drops packets silently: the liveness check reconnects and resyncs", { timeout: 60_000 }, async (t) => {
  const pgs = await startPgServer();
  const dbUrl = await pgs.createDatabase("bus");
  // A TCP proxy to PostgreSQL that can black-hole the connections it has (no FIN, no RST,
  // nothing forwarded), as a broken network path does; new connections pass.
  const live = new Set<{ c: Socket; u: Socket }>();
  let connections = 0;
  const proxy = createServer((c) => {
    connections++;
    const u = new Socket();
    u.connect(pgs.port, "127.0.0.1");
    const pair = { c, u };
    live.add(pair);
    c.pipe(u);
    u.pipe(c);
    const drop = () => { c.destroy(); u.destroy(); live.delete(pair); };
    c.on("error", drop); u.on("error", drop); c.on("close", drop); u.on("close", drop);
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const port = (proxy.address() as { port: number }).port;
  const viaProxy = dbUrl.replace(`:${pgs.port}/`, `:${port}/`);
  assert.notEqual(viaProxy, dbUrl);
  const pool = new pg.Pool({ connectionString: dbUrl, max: 1 });
  pool.on("error", () => undefined);
  const bus = new ConfigBus({ databaseUrl: viaProxy, nodeId: "n1", logger, clock: systemClock, pool, liveness: { intervalMs: 200, timeoutMs: 1000 } });
  const held = new Set<Socket>();
  t.after(async () => {
    // The black-holed sockets first: a client still on one would wait for ever to end politely.
    for (const s of held) s.destroy();
    for (const p of live) { p.c.destroy(); p.u.destroy(); }
    await bus.close();
    await pool.end();
    await new Promise((r) => proxy.close(r));
    await pgs.stop();
  });
  const changes: ConfigChange[] = [];
  bus.on("change", (c) => changes.push(c));
  await bus.start();
  await bus.publish({ scope: "services", path: "/before", method: "POST" });
  await eventually(() => changes.some((c) => c.kind === "change" && c.path === "/before"), 10_000, "a notification heard");
  assert.equal(connections, 1);
  // Black hole: stop forwarding both ways, keep the sockets open.
  for (const p of [...live]) {
    p.c.unpipe(p.u); p.u.unpipe(p.c); p.c.pause(); p.u.pause();
    held.add(p.c); held.add(p.u);
    live.delete(p);
  }
  await bus.publish({ scope: "services", path: "/lost", method: "POST" });
  await eventually(() => changes.some((c) => c.kind === "resync"), 20_000, "the bus noticed the dead path and resynced");
  assert.ok(connections >= 2, "it reconnected");
  assert.ok(!changes.some((c) => c.kind === "change" && c.path === "/lost"), "the notification sent into the black hole was lost (hence the resync)");
  await bus.publish({ scope: "services", path: "/after", method: "POST" });
  await eventually(() => changes.some((c) => c.kind === "change" && c.path === "/after"), 10_000, "notifications heard again after reconnecting");
});

test("taking over a dead node's room removes that room's containers only; the sweep removes the rest", { timeout: 120_000 }, async (t) => {
  const engine = new DockerEngine();
  await ensurePauseImage(engine);
  engine.close();
  const dead = `dead-node-${process.pid}-${Date.now().toString(36)}`;
  const make = (room: string) => docker("create", "--label", `dev.roomservice.owner=${dead}`, "--label", `dev.roomservice.room=${room}`, "--label", "dev.roomservice.role=service", PAUSE_IMAGE).trim();
  const inA = [make("room-a"), make("room-a")];
  const inB = [make("room-b"), make("room-b"), make("room-b")];
  const pgs = await startPgServer();
  const dbUrl = await pgs.createDatabase("reap");
  const runtime = await createDockerRuntime({ ownerId: `taker-${process.pid}`, logger });
  // The store's migration makes the cluster tables: open one in-process server on the database once.
  const s = await startTestServer({ databaseUrl: dbUrl });
  await s.close();
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  pool.on("error", () => undefined);
  const reaper = new ForeignReaper({ leases: new LeaseTable(pool, "taker"), runtime, onDeadNode: async () => undefined, clock: systemClock, logger, intervalMs: 60 * 60 * 1000, staleMs: 30_000 });
  t.after(async () => {
    await reaper.close();
    for (const id of labelled(dead)) docker("rm", "-f", id);
    await runtime.close();
    await pool.end();
    await pgs.stop();
  });
  // The takeover itself (the sweep is not running): room-a's containers go, room-b's stay.
  await reaper.onTakeover("room-a", { nodeId: dead, dead: true });
  assert.deepEqual(labelled(dead, "room-a"), [], "the taken room's containers removed before it is served");
  assert.deepEqual(labelled(dead, "room-b").sort(), [...inB].sort(), "the dead node's other rooms' containers are left to the sweep");
  assert.equal(inA.length, 2);
  // The sweep (its interval is an hour: only its first round, at start, can do this) removes the rest.
  await pool.query("INSERT INTO cluster_nodes (node_id, url, started_at, last_seen) VALUES ($1, 'http://127.0.0.1:1', now() - interval '2 hours', now() - interval '1 hour')", [dead]);
  reaper.start();
  await eventually(() => labelled(dead).length === 0, 60_000, "the sweep removed the dead node's other containers");
});

