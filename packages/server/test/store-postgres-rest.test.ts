import "./use-postgres.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { startTestServer } from "./helpers.ts";
// The server's REST, rooms/sessions and LLM tests, unchanged, on PostgreSQL (issue 11 §1):
import "./rest-api.test.ts";
import "./rooms-rest.test.ts";
import "./sessions.test.ts";
import "./llm-proxy.test.ts";
import "./room-update-delete.test.ts";
import "./secret-roundtrip.test.ts";

test("postgres wiring: a test server's control plane is in PostgreSQL, not in the data directory's SQLite", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  assert.equal(ts.server.ctx.store.dialect, "postgres");
  const key = await ts.server.apiKeys.create("default", "wired", Date.now());
  const res = await fetch(`${ts.url}/accounts/projects/default/services`, {
    method: "POST", headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
    body: JSON.stringify({ version: "v1", kind: "Service", metadata: { name: "web" }, container: { image: "x/web:1" } }),
  });
  assert.equal(res.status, 201);
  const url = ts.server.ctx.store.pgPool!.options.connectionString!;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const rows = (await c.query("SELECT name, project FROM services")).rows;
    assert.deepEqual(rows, [{ name: "web", project: "default" }], "the service row is in PostgreSQL");
    assert.equal((await c.query("SELECT version FROM roomservice_schema")).rows[0].version, (await import("../src/store/migrations.ts")).MIGRATIONS.length);
  } finally {
    await c.end();
  }
});
