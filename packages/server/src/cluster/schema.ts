import type { Pool } from "pg";

/**
 * Cluster state in PostgreSQL (issue 11 §2): the nodes that are up and the room leases.
 * `CREATE … IF NOT EXISTS` so every node may run it at start; two nodes racing on a fresh
 * database are serialized by an advisory lock (CREATE TABLE IF NOT EXISTS alone can still
 * fail with a unique violation on pg_type when two sessions create the same table at once).
 *
 * - `cluster_nodes`: one row per node id (stable across restarts: the node's owner id), its
 *   advertised internal URL and its heartbeat (`last_seen`, database time).
 * - `room_leases`: at most one row per room: the owning node, the fencing token taken from a
 *   global sequence (so a later owner always holds a larger token), and `expires_at`
 *   (database time; only database time is ever compared, so node clocks may drift).
 */
export const CLUSTER_SCHEMA = `
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

/** Arbitrary constant: the advisory lock key that serializes schema creation across nodes. */
const SCHEMA_LOCK_KEY = 0x524f4f4d; // "ROOM"

/** Creates the cluster tables if missing (idempotent; safe with many nodes starting at once). */
export async function ensureClusterSchema(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [SCHEMA_LOCK_KEY]);
    try {
      await client.query(CLUSTER_SCHEMA);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [SCHEMA_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
