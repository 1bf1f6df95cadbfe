import { after } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { Store } from "../src/store/db.ts";
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
