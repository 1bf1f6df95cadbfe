import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Store } from "../src/index.ts";
import { MIGRATIONS } from "../src/store/migrations.ts";
import { startTestServer } from "./helpers.ts";
import { startPgServer } from "./pg-server.ts";

// Issue 11 gap 1: the cluster's tables are store migration 6. A database that a release with
// schema version 5 used as a cluster (its nodes created cluster_nodes / room_leases with the
// SQL below, outside the numbered migrations) upgrades in place, rows and sequence kept.

/** What cluster/schema.ts ran at every node's start in schema-5 releases (verbatim). */
const RELEASED_CLUSTER_SCHEMA = `
CREATE TABLE IF NOT EXISTS cluster_nodes (
  node_id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  last_seen TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS room_lease_token;
CREATE TABLE IF NOT EXISTS room_leases (
  room TEXT PRIMARY KEY,
  node_id TEXT NOT NULL,
  token BIGINT NOT NULL,
  acquired_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS room_leases_node ON room_leases(node_id);
`;

test("a PostgreSQL database a schema-5 cluster used upgrades to migration 6: nodes, leases and the token sequence are kept, and a node serves rooms on it", { timeout: 120_000 }, async (t) => {
  const pgs = await startPgServer();
  const url = await pgs.createDatabase("old_cluster");
  const shared = await mkdtemp(join(tmpdir(), "rs-cluster-schema-"));
  const cleanup: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    await pgs.stop();
    await rm(shared, { recursive: true, force: true });
  });
  const raw = new pg.Client({ connectionString: url });
  await raw.connect();
  try {
    // The database as a schema-5 release left it: migrations 1-5, version 5, then the cluster
    // tables from the old schema.ts, with a node, an expired lease and a few tokens drawn.
    await raw.query("CREATE TABLE roomservice_schema (version INTEGER NOT NULL); INSERT INTO roomservice_schema VALUES (5)");
    for (const m of MIGRATIONS.slice(0, 5)) await raw.query(m.postgres);
    await raw.query(RELEASED_CLUSTER_SCHEMA);
    await raw.query("SELECT nextval('room_lease_token') FROM generate_series(1, 41)");
    await raw.query("INSERT INTO cluster_nodes VALUES ('rs-oldnode', 'http://10.0.0.9:8080', now(), now() - interval '1 hour')");
    await raw.query("INSERT INTO room_leases VALUES ('lobby', 'rs-oldnode', 41, now() - interval '1 hour', now() - interval '59 minutes')");
  } finally {
    await raw.end();
  }

  // Two stores opening at once (nodes starting together): both succeed, one migrates.
  const [s1, s2] = await Promise.all([Store.openPostgres(url), Store.openPostgres(url)]);
  await s1.close();
  await s2.close();

  const db = new pg.Pool({ connectionString: url, max: 1 });
  db.on("error", () => undefined);
  cleanup.push(() => db.end());
  assert.equal((await db.query("SELECT version FROM roomservice_schema")).rows[0].version, MIGRATIONS.length);
  assert.deepEqual((await db.query("SELECT node_id, url FROM cluster_nodes")).rows, [{ node_id: "rs-oldnode", url: "http://10.0.0.9:8080" }], "the node row is kept");
  assert.deepEqual((await db.query("SELECT room, node_id, token::int AS token FROM room_leases")).rows, [{ room: "lobby", node_id: "rs-oldnode", token: 41 }], "the lease row is kept");
  for (const table of ["browser_sessions", "login_codes", "installation_state"]) {
    assert.equal((await db.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = $1", [table])).rows[0].n, 1, `${table} created`);
  }

  // A node of this build takes the dead node's expired lease with a larger token than any
  // drawn before the upgrade (fencing stays monotonic across it).
  const node = await startTestServer({ secret: "old-cluster-secret-0123456789", cluster: { databaseUrl: url, sharedDir: shared, timing: { leaseTtlMs: 30_000, renewIntervalMs: 1000, unusedGraceMs: 1000 } } });
  cleanup.push(() => node.close());
  const client = await node.client("lobby", "ann");
  assert.ok(client.sessionId);
  const lease = (await db.query("SELECT node_id, token::int AS token FROM room_leases WHERE room = 'lobby'")).rows[0];
  assert.equal(lease.node_id, node.server.cluster!.nodeId);
  assert.ok(lease.token > 41, `new token ${lease.token} > 41`);
});

test("SQLite gets migration 6's shared-state tables but no cluster tables (a cluster needs PostgreSQL)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-schema6-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = Store.openSqlite(join(dir, "roomservice.db"));
  t.after(() => store.close());
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(join(dir, "roomservice.db"), { readOnly: true });
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  db.close();
  for (const name of ["browser_sessions", "login_codes", "installation_state"]) assert.ok(tables.includes(name), `${name} in ${tables.join(", ")}`);
  assert.ok(!tables.includes("room_leases") && !tables.includes("cluster_nodes"));
});
