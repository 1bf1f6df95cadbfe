import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { Store } from "../../store/db.ts";
import { QUEUES_SQLITE_SCHEMA } from "../../store/migrations.ts";

/**
 * The queues' database: always node-local SQLite, opened synchronously (docs/decisions.md,
 * "Queues stay in node-local SQLite"). With the SQLite control plane it is a second
 * connection to the same file, which holds the queue tables since migration 4, so existing
 * data directories keep their queues; a connection of its own keeps queue transactions out
 * of the control plane's (Kysely holds that connection across awaits). With PostgreSQL it
 * is `<dataDir>/queues.db`.
 */
export function openQueueDatabase(store: Store, dataDir: string): DatabaseSync {
  const shared = store.sqliteFile !== null && store.sqliteFile !== ":memory:";
  const db = new DatabaseSync(shared ? store.sqliteFile! : join(dataDir, "queues.db"));
  try {
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;");
    if (!shared) {
      // queues.db's own schema version: 1 = the queue tables of control-plane migration 4.
      const v = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (v > 1) throw new Error(`${join(dataDir, "queues.db")} has schema version ${v}, newer than this Roomservice knows (1): run a newer Roomservice`);
      if (v === 0) db.exec(`BEGIN IMMEDIATE; ${QUEUES_SQLITE_SCHEMA} PRAGMA user_version = 1; COMMIT;`);
    }
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
