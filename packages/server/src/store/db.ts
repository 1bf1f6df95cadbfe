import { DatabaseSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * The embedded SQLite store (node:sqlite: no native addon to compile). WAL + synchronous=FULL
 * so a crash at any moment loses no committed row. Schema changes are numbered migrations
 * keyed on PRAGMA user_version; later issues append to MIGRATIONS, never edit old entries.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE sessions (
     id TEXT PRIMARY KEY,
     room TEXT NOT NULL,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     end_reason TEXT,
     participants TEXT NOT NULL DEFAULT '[]'
   );
   CREATE INDEX sessions_room ON sessions(room, started_at);
   CREATE TABLE room_settings (
     room TEXT PRIMARY KEY,
     departure_timeout_ms INTEGER,
     updated_at INTEGER NOT NULL
   );`,
  `CREATE TABLE services (
     id TEXT PRIMARY KEY,
     project TEXT NOT NULL,
     room TEXT,
     name TEXT NOT NULL,
     spec TEXT NOT NULL,
     version INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX services_name ON services(project, ifnull(room, ''), name);
   CREATE TABLE service_versions (
     service_id TEXT NOT NULL,
     version INTEGER NOT NULL,
     spec TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (service_id, version)
   );
   CREATE TABLE secrets (
     id TEXT PRIMARY KEY,
     project TEXT NOT NULL,
     room TEXT,
     name TEXT NOT NULL,
     type TEXT NOT NULL,
     ciphertext BLOB NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX secrets_name ON secrets(project, ifnull(room, ''), name);
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     project TEXT NOT NULL,
     name TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
  // LLM proxy: one upstream per project (the key is a secret's name) and usage per room.
  `CREATE TABLE llm_upstreams (
     project TEXT PRIMARY KEY,
     base_url TEXT NOT NULL,
     api_key_secret TEXT,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE llm_usage (
     project TEXT NOT NULL,
     room TEXT NOT NULL,
     requests INTEGER NOT NULL,
     errors INTEGER NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL,
     last_used_at INTEGER NOT NULL,
     PRIMARY KEY (project, room)
   );`,
  // 4: queues toolkit (room-scoped FIFO queues; see toolkits/queues/).
  `CREATE TABLE queues (
     room TEXT NOT NULL,
     name TEXT NOT NULL,
     durable INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (room, name)
   );
   CREATE TABLE queue_messages (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     room TEXT NOT NULL,
     name TEXT NOT NULL,
     body TEXT NOT NULL,
     leased_by TEXT,
     FOREIGN KEY (room, name) REFERENCES queues(room, name) ON DELETE CASCADE
   );
   CREATE INDEX queue_messages_order ON queue_messages(room, name, id);`,
  // 5: Studio — named rooms (SDK createRoom), per-session events, participants and stats
  // samples so an ended session can be replayed, and API key descriptions.
  `CREATE TABLE rooms (
     name TEXT PRIMARY KEY,
     metadata TEXT NOT NULL DEFAULT '{}',
     annotations TEXT NOT NULL DEFAULT '{}',
     created_at INTEGER NOT NULL
   );
   CREATE TABLE session_events (
     session_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     type TEXT NOT NULL,
     reason TEXT NOT NULL,
     message TEXT NOT NULL,
     service_id TEXT,
     service_name TEXT,
     participant TEXT,
     PRIMARY KEY (session_id, seq)
   );
   CREATE TABLE session_participants (
     session_id TEXT NOT NULL,
     participant_id TEXT NOT NULL,
     name TEXT NOT NULL,
     role TEXT NOT NULL,
     joined_at INTEGER NOT NULL,
     left_at INTEGER,
     PRIMARY KEY (session_id, participant_id)
   );
   CREATE TABLE session_stats (
     session_id TEXT NOT NULL,
     service_id TEXT NOT NULL,
     service_name TEXT NOT NULL,
     at INTEGER NOT NULL,
     cpu_percent REAL NOT NULL,
     memory_bytes INTEGER NOT NULL,
     memory_limit_bytes INTEGER,
     cpu_limit_cores REAL
   );
   CREATE INDEX session_stats_session ON session_stats(session_id, at);
   ALTER TABLE api_keys ADD COLUMN description TEXT NOT NULL DEFAULT '';`,
];

export class Store {
  readonly db: DatabaseSync;

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new DatabaseSync(file);
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;");
    this.migrate();
  }

  private migrate(): void {
    const row = this.db.prepare("PRAGMA user_version").get() as { user_version: number };
    for (let v = row.user_version; v < MIGRATIONS.length; v++) {
      this.db.exec("BEGIN");
      try {
        this.db.exec(MIGRATIONS[v]!);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
        this.db.exec("COMMIT");
      } catch (err) {
        this.db.exec("ROLLBACK");
        throw new Error(`store migration ${v + 1} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  close(): void {
    this.db.close();
  }
}
