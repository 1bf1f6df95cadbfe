import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startTestServer, type TestServer } from "./helpers.ts";
import { startPgServer } from "./pg-server.ts";

/**
 * A long TTL: one process hosts both nodes and every client, and an event loop stalled past
 * ttl - renewInterval would (correctly) let the other node take a room mid-test.
 */
export const TEST_CLUSTER_TIMING = { leaseTtlMs: 30_000, renewIntervalMs: 1000, unusedGraceMs: 1000 };

/**
 * Two in-process nodes of one cluster: a fresh PostgreSQL database named `dbName`, a shared
 * directory, one project secret, and a pool on the database for the test's own queries (`db`).
 * Everything is closed and removed after the test.
 */
export async function twoClusterNodes(t: { after(fn: () => Promise<void>): void }, dbName: string): Promise<{ a: TestServer; b: TestServer; db: pg.Pool; secret: string }> {
  const pgs = await startPgServer();
  const url = await pgs.createDatabase(dbName);
  const shared = await mkdtemp(join(tmpdir(), "rs-cluster-shared-"));
  const secret = `${dbName}-test-secret-0123456789`;
  const cluster = { databaseUrl: url, sharedDir: shared, timing: TEST_CLUSTER_TIMING };
  const a = await startTestServer({ secret, cluster });
  const b = await startTestServer({ secret, cluster });
  const db = new pg.Pool({ connectionString: url, max: 2 });
  db.on("error", () => undefined);
  t.after(async () => {
    await a.close();
    await b.close();
    await db.end();
    await pgs.stop();
    await rm(shared, { recursive: true, force: true });
  });
  return { a, b, db, secret };
}
