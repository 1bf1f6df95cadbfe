import type pg from "pg";
import type { Pool } from "pg";

/** A lease this node holds on a room. `token` is the fencing token (strictly increasing per room). */
export interface HeldLease {
  room: string;
  token: string;
}

/**
 * The node that held a room's lease before this node took it (its lease had expired, or it
 * was released without the row being deleted). `dead`: its heartbeat is older than the lease
 * TTL and it holds no other live lease — it is gone, not merely slow, so everything it left
 * on a shared container engine may go (cluster/reaper.ts).
 */
export interface PreviousOwner {
  nodeId: string;
  dead: boolean;
}

/** A lease just taken; `previous` is the node it was taken from (null: free, or ours already). */
export interface AcquiredLease extends HeldLease {
  previous?: PreviousOwner | null;
}

/** Who owns a room right now, as the database sees it. */
export type LeaseOwner =
  | { kind: "none" }
  | { kind: "node"; nodeId: string; url: string; token: string };

/**
 * The `room_leases` table (store migration 6). Every comparison uses the database's clock
 * (`now()`), so a lease means the same thing to every node whatever their clocks say.
 */
export class LeaseTable {
  private readonly pool: Pool;
  /**
   * The lease round's own connections (renewals and releases): requests, listings and
   * `/healthz` use `pool`, and however many of them wait for a connection there, a renewal
   * never queues behind them past its trust window. Defaults to `pool`.
   */
  private readonly roundPool: Pool;
  private readonly nodeId: string;
  /** Bound on a renewal statement (ms): a hung database must fail the round, not stall it. */
  private readonly roundTimeoutMs: number;

  constructor(pool: Pool, nodeId: string, roundTimeoutMs = 10_000, roundPool: Pool = pool) {
    this.pool = pool;
    this.roundPool = roundPool;
    this.nodeId = nodeId;
    this.roundTimeoutMs = roundTimeoutMs;
  }

  /**
   * Takes the room's lease for this node when it is free or expired (or already ours: a node
   * asking again gets a new token). Returns the token, or null when another node holds a
   * live lease. One statement, so two nodes racing for a free room cannot both win.
   */
  async acquire(room: string, ttlMs: number): Promise<AcquiredLease | null> {
    // `prev` reads the row as it was before the upsert (one snapshot): whose lease this was.
    const r = await this.pool.query<{ token: string; previous: string | null; previous_dead: boolean | null }>(
      `WITH prev AS (
         SELECT l.node_id,
                NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node_id = l.node_id AND n.last_seen > now() - $3 * interval '1 millisecond')
                AND NOT EXISTS (SELECT 1 FROM room_leases o WHERE o.node_id = l.node_id AND o.room <> l.room AND o.expires_at > now()) AS dead
         FROM room_leases l WHERE l.room = $1
       )
       INSERT INTO room_leases (room, node_id, token, acquired_at, expires_at)
       VALUES ($1, $2, nextval('room_lease_token'), now(), now() + $3 * interval '1 millisecond')
       ON CONFLICT (room) DO UPDATE SET node_id = EXCLUDED.node_id, token = EXCLUDED.token,
         acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
       WHERE room_leases.expires_at <= now() OR room_leases.node_id = EXCLUDED.node_id
       RETURNING token::text AS token, (SELECT node_id FROM prev) AS previous, (SELECT dead FROM prev) AS previous_dead`,
      [room, this.nodeId, ttlMs],
    );
    const row = r.rows[0];
    if (row === undefined) return null;
    const previous = row.previous === null || row.previous === this.nodeId ? null : { nodeId: row.previous, dead: row.previous_dead === true };
    return { room, token: row.token, previous };
  }

  /**
   * Nodes that are gone: heartbeat older than `staleMs` (database time) and no live lease.
   * `lastSeen` (ms since epoch) tells a node that came back and died again from the last time.
   */
  async deadNodes(staleMs: number): Promise<{ nodeId: string; lastSeen: number }[]> {
    const r = await this.pool.query<{ node_id: string; last_seen: Date }>(
      `SELECT n.node_id, n.last_seen FROM cluster_nodes n
       WHERE n.node_id <> $1 AND n.last_seen < now() - $2 * interval '1 millisecond'
         AND NOT EXISTS (SELECT 1 FROM room_leases l WHERE l.node_id = n.node_id AND l.expires_at > now())`,
      [this.nodeId, staleMs],
    );
    return r.rows.map((x) => ({ nodeId: x.node_id, lastSeen: x.last_seen.getTime() }));
  }

  /**
   * Forgets nodes gone for good (docs/scaling.md, "Retention"): deletes the `cluster_nodes`
   * rows of `nodeIds` (dead nodes whose leftovers were cleared) still silent for `retentionMs`
   * and holding no live lease, with their expired leases; and at most `limit` other leases
   * expired `retentionMs` ago, except those of a node still dead and not yet forgotten (its
   * sweep reads them). Returns how many rows of each went.
   */
  async forgetLongDead(nodeIds: string[], retentionMs: number, limit: number): Promise<{ nodes: number; leases: number }> {
    const r = await this.pool.query<{ nodes: number; leases: number }>(
      `WITH gone AS (
         DELETE FROM cluster_nodes n WHERE n.node_id IN (SELECT unnest($1::text[]) LIMIT $3)
           AND n.node_id <> $4 AND n.last_seen < now() - $2 * interval '1 millisecond'
           AND NOT EXISTS (SELECT 1 FROM room_leases l WHERE l.node_id = n.node_id AND l.expires_at > now())
         RETURNING n.node_id
       ), their AS (
         DELETE FROM room_leases l WHERE l.node_id IN (SELECT node_id FROM gone) AND l.expires_at <= now() RETURNING 1
       ), stale AS (
         DELETE FROM room_leases WHERE ctid IN (
           SELECT l.ctid FROM room_leases l WHERE l.expires_at < now() - $2 * interval '1 millisecond'
             AND NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node_id = l.node_id AND n.last_seen < l.expires_at + $2 * interval '1 millisecond')
           LIMIT $3)
         RETURNING 1
       )
       SELECT (SELECT count(*)::int FROM gone) AS nodes, (SELECT count(*)::int FROM their) + (SELECT count(*)::int FROM stale) AS leases`,
      [nodeIds, retentionMs, limit, this.nodeId],
    );
    return r.rows[0] ?? { nodes: 0, leases: 0 };
  }

  /** The live owner of a room (an expired lease counts as none). */
  async owner(room: string): Promise<LeaseOwner> {
    const r = await this.pool.query<{ node_id: string; url: string; token: string }>(
      `SELECT l.node_id, n.url, l.token::text AS token FROM room_leases l JOIN cluster_nodes n USING (node_id)
       WHERE l.room = $1 AND l.expires_at > now()`,
      [room],
    );
    const row = r.rows[0];
    return row === undefined ? { kind: "none" } : { kind: "node", nodeId: row.node_id, url: row.url, token: row.token };
  }

  /**
   * Extends the given leases by `ttlMs` from now (database time) where this node still holds
   * them with the same token. Returns the rooms whose lease was renewed; a room missing from
   * the answer was lost (it expired and another node took it, or it was released).
   */
  async renew(leases: HeldLease[], ttlMs: number): Promise<Set<string>> {
    if (leases.length === 0) return new Set();
    const r = await this.roundPool.query<{ room: string }>({
      text: `UPDATE room_leases SET expires_at = now() + $2 * interval '1 millisecond'
       WHERE node_id = $1 AND (room, token) IN (SELECT * FROM unnest($3::text[], $4::bigint[]))
       RETURNING room`,
      values: [this.nodeId, ttlMs, leases.map((l) => l.room), leases.map((l) => l.token)],
      query_timeout: this.roundTimeoutMs,
    } as pg.QueryConfig);
    return new Set(r.rows.map((x) => x.room));
  }

  /** Gives a lease up (only ours, only with our token: a newer owner's row is never touched). */
  async release(lease: HeldLease): Promise<void> {
    await this.roundPool.query("DELETE FROM room_leases WHERE room = $1 AND node_id = $2 AND token = $3", [lease.room, this.nodeId, lease.token]);
  }

  /**
   * Drops every lease of this node id. Only at start-up: the data directory's lock proves no
   * other process runs as this node, so whatever rows it has are a killed run's leftovers.
   */
  async releaseAllOfThisNode(): Promise<number> {
    const r = await this.pool.query("DELETE FROM room_leases WHERE node_id = $1", [this.nodeId]);
    return r.rowCount ?? 0;
  }

  /** Live leases per node (diagnostics, the bench and `GET /cluster`). */
  async countByNode(): Promise<Map<string, number>> {
    const r = await this.pool.query<{ node_id: string; n: string }>(
      "SELECT node_id, count(*)::text AS n FROM room_leases WHERE expires_at > now() GROUP BY node_id",
    );
    return new Map(r.rows.map((x) => [x.node_id, Number(x.n)]));
  }
}
