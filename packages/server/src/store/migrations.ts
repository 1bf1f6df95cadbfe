/**
 * The control plane's schema as numbered migrations, one list per dialect. Entry i (0-based)
 * takes the schema from version i to i+1 and both lists describe the same tables at every
 * version, so a version number means one schema whichever database holds it. Append new
 * migrations to BOTH lists, never edit an entry that has shipped (existing data files and
 * databases have run it). store/db.ts runs what is missing at start and refuses a database
 * whose version is newer than MIGRATIONS.length.
 *
 * SQLite's entries are the ones that shipped with SQLite-only Roomservice (versions 1-5 are
 * in users' data files as PRAGMA user_version). PostgreSQL differs only in types: BIGINT for
 * every integer (SQLite's INTEGER is 64-bit; PostgreSQL's is 32), DOUBLE PRECISION for REAL
 * (PostgreSQL's REAL is 4 bytes), BYTEA for BLOB, COLLATE "C" on text that is sorted so
 * "ORDER BY name" gives SQLite's byte order whatever the database's locale, and an explicit
 * `rowid` column where queries order by SQLite's implicit one.
 */
export interface Migration {
  sqlite: string;
  postgres: string;
}

const SQLITE: string[] = [
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
  // 6: state a cluster's nodes must share (docs/scaling.md). Studio sign-in sessions and
  // one-time login codes (by SHA-256 of the cookie value / code; used when clustered, so a
  // sign-in on one node works on every node), and `installation_state`: small documents the
  // installation keeps once, such as the demo room's marker. The cluster tables
  // (cluster_nodes, room_leases) exist only in PostgreSQL: a cluster needs it (decisions.md).
  `CREATE TABLE browser_sessions (
     id_hash TEXT PRIMARY KEY,
     identity TEXT NOT NULL,
     api_key_id TEXT,
     csrf_token TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_seen_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX browser_sessions_key ON browser_sessions(api_key_id);
   CREATE INDEX browser_sessions_seen ON browser_sessions(last_seen_at);
   CREATE TABLE login_codes (
     code_hash TEXT PRIMARY KEY,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE installation_state (
     name TEXT PRIMARY KEY,
     value TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );`,
  // 7: the YAML text a service was last saved as from an editor (comments and layout kept),
  // with the service version it describes (services/service-store.ts `source`).
  `CREATE TABLE service_sources (
     service_id TEXT PRIMARY KEY,
     version INTEGER NOT NULL,
     yaml TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );`,
];

const POSTGRES: string[] = [
  `CREATE TABLE sessions (
     id TEXT COLLATE "C" PRIMARY KEY,
     room TEXT COLLATE "C" NOT NULL,
     started_at BIGINT NOT NULL,
     ended_at BIGINT,
     end_reason TEXT,
     participants TEXT NOT NULL DEFAULT '[]'
   );
   CREATE INDEX sessions_room ON sessions(room, started_at);
   CREATE TABLE room_settings (
     room TEXT COLLATE "C" PRIMARY KEY,
     departure_timeout_ms BIGINT,
     updated_at BIGINT NOT NULL
   );`,
  `CREATE TABLE services (
     id TEXT COLLATE "C" PRIMARY KEY,
     project TEXT COLLATE "C" NOT NULL,
     room TEXT COLLATE "C",
     name TEXT COLLATE "C" NOT NULL,
     spec TEXT NOT NULL,
     version BIGINT NOT NULL,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE UNIQUE INDEX services_name ON services(project, coalesce(room, ''), name);
   CREATE TABLE service_versions (
     service_id TEXT NOT NULL,
     version BIGINT NOT NULL,
     spec TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     PRIMARY KEY (service_id, version)
   );
   CREATE TABLE secrets (
     id TEXT COLLATE "C" PRIMARY KEY,
     project TEXT COLLATE "C" NOT NULL,
     room TEXT COLLATE "C",
     name TEXT COLLATE "C" NOT NULL,
     type TEXT NOT NULL,
     ciphertext BYTEA NOT NULL,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE UNIQUE INDEX secrets_name ON secrets(project, coalesce(room, ''), name);
   CREATE TABLE api_keys (
     id TEXT COLLATE "C" PRIMARY KEY,
     project TEXT COLLATE "C" NOT NULL,
     name TEXT COLLATE "C" NOT NULL,
     secret_hash TEXT NOT NULL,
     created_at BIGINT NOT NULL
   );`,
  `CREATE TABLE llm_upstreams (
     project TEXT COLLATE "C" PRIMARY KEY,
     base_url TEXT NOT NULL,
     api_key_secret TEXT,
     updated_at BIGINT NOT NULL
   );
   CREATE TABLE llm_usage (
     project TEXT COLLATE "C" NOT NULL,
     room TEXT COLLATE "C" NOT NULL,
     requests BIGINT NOT NULL,
     errors BIGINT NOT NULL,
     prompt_tokens BIGINT NOT NULL,
     completion_tokens BIGINT NOT NULL,
     last_used_at BIGINT NOT NULL,
     PRIMARY KEY (project, room)
   );`,
  // 4: the queues toolkit's tables. Queues are room data and stay in node-local SQLite
  // (toolkits/queues/queue-db.ts, docs/decisions.md), so PostgreSQL has nothing to create;
  // the entry keeps version numbers aligned between the dialects.
  `SELECT 1;`,
  `CREATE TABLE rooms (
     name TEXT COLLATE "C" PRIMARY KEY,
     metadata TEXT NOT NULL DEFAULT '{}',
     annotations TEXT NOT NULL DEFAULT '{}',
     created_at BIGINT NOT NULL
   );
   CREATE TABLE session_events (
     session_id TEXT NOT NULL,
     seq BIGINT NOT NULL,
     at BIGINT NOT NULL,
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
     joined_at BIGINT NOT NULL,
     left_at BIGINT,
     rowid BIGSERIAL NOT NULL,
     PRIMARY KEY (session_id, participant_id)
   );
   CREATE TABLE session_stats (
     session_id TEXT NOT NULL,
     service_id TEXT NOT NULL,
     service_name TEXT NOT NULL,
     at BIGINT NOT NULL,
     cpu_percent DOUBLE PRECISION NOT NULL,
     memory_bytes BIGINT NOT NULL,
     memory_limit_bytes BIGINT,
     cpu_limit_cores DOUBLE PRECISION,
     rowid BIGSERIAL NOT NULL
   );
   CREATE INDEX session_stats_session ON session_stats(session_id, at);
   ALTER TABLE api_keys ADD COLUMN description TEXT NOT NULL DEFAULT '';`,
  // 6: the cluster's tables (issue 11), which releases up to schema version 5 created outside
  // the numbered migrations (cluster/schema.ts, CREATE … IF NOT EXISTS at each node's start):
  // IF NOT EXISTS here too, so a database those releases used upgrades in place with its
  // nodes and leases kept. Then the shared Studio sessions and installation state (SQLite's
  // entry 6). Only database time (now()) is ever compared with expires_at / last_seen.
  `CREATE TABLE IF NOT EXISTS cluster_nodes (
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
   CREATE TABLE browser_sessions (
     id_hash TEXT COLLATE "C" PRIMARY KEY,
     identity TEXT NOT NULL,
     api_key_id TEXT COLLATE "C",
     csrf_token TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     last_seen_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL
   );
   CREATE INDEX browser_sessions_key ON browser_sessions(api_key_id);
   CREATE INDEX browser_sessions_seen ON browser_sessions(last_seen_at);
   CREATE TABLE login_codes (
     code_hash TEXT COLLATE "C" PRIMARY KEY,
     expires_at BIGINT NOT NULL
   );
   CREATE TABLE installation_state (
     name TEXT COLLATE "C" PRIMARY KEY,
     value TEXT NOT NULL,
     updated_at BIGINT NOT NULL
   );`,
  `CREATE TABLE service_sources (
     service_id TEXT COLLATE "C" PRIMARY KEY,
     version BIGINT NOT NULL,
     yaml TEXT NOT NULL,
     updated_at BIGINT NOT NULL
   );`,
];

if (SQLITE.length !== POSTGRES.length) throw new Error("store migrations: the SQLite and PostgreSQL lists must have the same length");

/** Every migration, in order: MIGRATIONS[i] takes the schema from version i to i + 1. */
export const MIGRATIONS: readonly Migration[] = SQLITE.map((sqlite, i) => ({ sqlite, postgres: POSTGRES[i]! }));

/** The SQL of migration 4 (queues), which the node-local queue database runs on its own. */
export const QUEUES_SQLITE_SCHEMA = SQLITE[3]!;
