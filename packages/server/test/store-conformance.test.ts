import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { Store } from "../src/store/db.ts";
import { MIGRATIONS } from "../src/store/migrations.ts";
import { ApiKeyStore } from "../src/services/api-keys.ts";
import { storeConformance } from "./store-conformance.ts";
import { startPgServer } from "./pg-server.ts";

// Acceptance 1 of issue 11: one suite, both dialects. PostgreSQL is a real server (Debian's
// package) started here and removed at the end.
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

storeConformance("sqlite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rs-store-"));
  dirs.push(dir);
  const file = join(dir, "roomservice.db");
  return {
    open: async () => Store.openSqlite(file),
    async forceVersion(v) {
      const db = new DatabaseSync(file);
      db.exec(`PRAGMA user_version = ${v}`);
      db.close();
    },
  };
});

// Started by the first PostgreSQL test (tests registered after a top-level await would not run).
let server: ReturnType<typeof startPgServer> | null = null;
after(async () => {
  if (server !== null) await (await server).stop();
});
storeConformance("postgres", async () => {
  server ??= startPgServer();
  const url = await (await server).createDatabase();
  return {
    open: () => Store.openPostgres(url),
    async forceVersion(v) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query("UPDATE roomservice_schema SET version = $1", [v]);
      await c.end();
    },
  };
});

test("postgres: nodes starting together on an empty database migrate it once (advisory lock), and all open", async () => {
  server ??= startPgServer();
  const url = await (await server).createDatabase();
  const stores = await Promise.all(Array.from({ length: 4 }, () => Store.openPostgres(url)));
  try {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const rows = (await c.query("SELECT version FROM roomservice_schema")).rows;
    await c.end();
    assert.deepEqual(rows, [{ version: MIGRATIONS.length }], "one version row, at the latest version");
    await new ApiKeyStore(stores[0]!).create("p", "k", 1);
    assert.equal((await new ApiKeyStore(stores[3]!).list("p")).length, 1, "one database seen by every node");
  } finally {
    for (const s of stores) await s.close();
  }
});
