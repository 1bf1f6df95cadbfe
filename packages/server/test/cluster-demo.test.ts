import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import pg from "pg";
import { DEMO_EXAMPLES, DEMO_MARKER, REPO_ROOT, setUpDemo, type DemoResult } from "../src/index.ts";
import { eventually, startTestServer, type TestServer } from "./helpers.ts";
import { startTestCluster } from "./cluster-helpers.ts";
import { startPgServer } from "./pg-server.ts";

// Issue 11 gap 6: the demo room's marker lives in the store, so nodes of a cluster sharing one
// PostgreSQL set the demo up once between them (not once per node), and what an operator
// deleted through one node is not recreated by another. Two cluster nodes (real servers in
// this process) on one real PostgreSQL.

const timing = { leaseTtlMs: 30_000, renewIntervalMs: 1000, unusedGraceMs: 1000 };
const demoDeps = (s: TestServer) => ({
  dataDir: s.dataDir, store: s.server.ctx.store, projectId: "default", services: s.server.services, secrets: s.server.secrets,
  logger: pino({ level: "silent" }), imageFor: (e: string) => `roomservice-demo/${e}:latest`, root: REPO_ROOT,
});

test("two cluster nodes on one database set up the demo room once; a service deleted through one is not recreated by the other", { timeout: 120_000 }, async (t) => {
  const pgs = await startPgServer();
  const url = await pgs.createDatabase("demo");
  const shared = await mkdtemp(join(tmpdir(), "rs-cluster-demo-"));
  const secret = "demo-cluster-secret-0123456789";
  const a = await startTestServer({ secret, cluster: { databaseUrl: url, sharedDir: shared, timing } });
  const b = await startTestServer({ secret, cluster: { databaseUrl: url, sharedDir: shared, timing } });
  const db = new pg.Pool({ connectionString: url, max: 1 });
  db.on("error", () => undefined);
  t.after(async () => {
    await a.close();
    await b.close();
    await db.end();
    await pgs.stop();
    await rm(shared, { recursive: true, force: true });
  });

  // Both nodes start the demo at the same moment (as `serve --cluster` nodes starting together do).
  const [ra, rb] = await Promise.all([setUpDemo(demoDeps(a)), setUpDemo(demoDeps(b))]);
  const created = [...ra.created, ...rb.created].sort();
  assert.deepEqual(created, [...DEMO_EXAMPLES].sort(), `each demo service created by exactly one node: a ${JSON.stringify(ra)} b ${JSON.stringify(rb)}`);
  const kept = (r: DemoResult) => r.kept.length;
  assert.equal(kept(ra) + kept(rb), DEMO_EXAMPLES.length, "the other node found them all (kept)");
  const rows = (await db.query("SELECT name, count(*)::int AS n FROM services WHERE room = 'demo' GROUP BY name")).rows;
  assert.equal(rows.length, DEMO_EXAMPLES.length);
  assert.ok(rows.every((r) => r.n === 1), JSON.stringify(rows));
  const secrets = (await db.query("SELECT count(*)::int AS n FROM secrets WHERE room = 'demo'")).rows[0].n;
  assert.equal(secrets, 1, "one demo CRM key");
  const marker = JSON.parse((await db.query("SELECT value FROM installation_state WHERE name = 'demo'")).rows[0].value);
  assert.deepEqual(Object.keys(marker.services).sort(), [...DEMO_EXAMPLES].sort(), "the marker is in the shared store");
  assert.ok(!existsSync(join(a.dataDir, DEMO_MARKER)) && !existsSync(join(b.dataDir, DEMO_MARKER)), "no marker in either node's data directory");

  // The operator deletes "pipeline" through node b's REST API; node a restarting its demo set-up
  // (a node restart) does not bring it back.
  const admin = await a.token("admin", "admin", { api: { admin: {} } });
  const pipeline = (await a.server.services.findByName("default", "demo", "pipeline"))!;
  const del = await fetch(`${b.url}/accounts/projects/default/rooms/demo/services/${pipeline.id}`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } });
  assert.ok(del.ok, await del.text());
  const again = await setUpDemo(demoDeps(a));
  assert.deepEqual(again.created, []);
  assert.deepEqual(again.removed, ["pipeline"]);
  assert.equal((await a.server.services.forRoom("default", "demo")).length, DEMO_EXAMPLES.length - 1);
});

test("a data directory from before schema 6: its demo.json marker moves into the store (a service deleted then stays deleted)", async (t) => {
  const s = await startTestServer({});
  t.after(() => s.close());
  // The release before recorded "pipeline" as created; the operator has since deleted it.
  await writeFile(join(s.dataDir, DEMO_MARKER), JSON.stringify({ room: "demo", services: { pipeline: "svc-deleted-long-ago" }, updated_at: "2026-01-01T00:00:00.000Z" }));
  const r = await setUpDemo(demoDeps(s));
  assert.deepEqual(r.removed, ["pipeline"]);
  assert.ok(!r.created.includes("pipeline"));
  assert.ok(!existsSync(join(s.dataDir, DEMO_MARKER)), "the file is gone: the store holds the record");
  const again = await setUpDemo(demoDeps(s));
  assert.deepEqual([again.created, again.removed], [[], ["pipeline"]]);
});

test("two `serve --cluster` processes on one database: the first sets the demo room up, the second finds it; neither keeps a marker file", { timeout: 300_000 }, async (t) => {
  const cl = await startTestCluster({ nodes: 2, env: { ROOMSERVICE_RUNTIME: "docker", ROOMSERVICE_ROOM_POOL: "0", ROOMSERVICE_DEMO: "1" } });
  t.after(() => cl.close());
  for (const n of cl.nodes) {
    await eventually(() => /room demo: open /.test(n.stdout()), 60_000, `${n.name} prints the demo room's link`);
    assert.ok(!existsSync(join(n.dataDir, DEMO_MARKER)), `no marker in ${n.name}'s data directory`);
  }
  const rows = (await cl.db.query("SELECT name, count(*)::int AS n FROM services WHERE room = 'demo' GROUP BY name ORDER BY name")).rows;
  assert.deepEqual(rows.map((r) => [r.name, r.n]), [...DEMO_EXAMPLES].sort().map((name) => [name, 1]), "each demo service once, for the whole cluster");
  const marker = JSON.parse((await cl.db.query("SELECT value FROM installation_state WHERE name = 'demo'")).rows[0].value);
  assert.deepEqual(Object.keys(marker.services).sort(), [...DEMO_EXAMPLES].sort());
});
