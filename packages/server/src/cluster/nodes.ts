import type pg from "pg";
import type { Pool } from "pg";

/** A node as the cluster sees it. `live`: its heartbeat is younger than the staleness bound. */
export interface NodeInfo {
  nodeId: string;
  url: string;
  startedAt: Date;
  lastSeen: Date;
  live: boolean;
}

/** The `cluster_nodes` table: registration and heartbeat (store migration 6; database time). */
export class NodeRegistry {
  private readonly pool: Pool;
  readonly nodeId: string;
  /** This node's URL once registered (the heartbeat re-registers a row another node forgot). */
  private url: string | null = null;

  /** Bound on a heartbeat (ms): a hung database must fail the lease round, not stall it. */
  private readonly roundTimeoutMs: number;

  constructor(pool: Pool, nodeId: string, roundTimeoutMs = 10_000) {
    this.pool = pool;
    this.nodeId = nodeId;
    this.roundTimeoutMs = roundTimeoutMs;
  }

  /** Registers (or re-registers after a restart) this node with its internal URL. */
  async register(url: string): Promise<void> {
    this.url = url;
    await this.pool.query(
      `INSERT INTO cluster_nodes (node_id, url, started_at, last_seen) VALUES ($1, $2, now(), now())
       ON CONFLICT (node_id) DO UPDATE SET url = EXCLUDED.url, started_at = now(), last_seen = now()`,
      [this.nodeId, url],
    );
  }

  /**
   * Marks this node seen now. An upsert: a node silent for longer than the dead-node retention
   * (partitioned, not dead) finds its row deleted by another node's sweep and registers again.
   */
  async heartbeat(): Promise<void> {
    if (this.url === null) throw new Error("heartbeat before register()");
    await this.pool.query({
      text: `INSERT INTO cluster_nodes (node_id, url, started_at, last_seen) VALUES ($1, $2, now(), now())
             ON CONFLICT (node_id) DO UPDATE SET last_seen = now()`,
      values: [this.nodeId, this.url], query_timeout: this.roundTimeoutMs,
    } as pg.QueryConfig);
  }

  /** Removes this node's row (graceful shutdown). */
  async deregister(): Promise<void> {
    await this.pool.query("DELETE FROM cluster_nodes WHERE node_id = $1", [this.nodeId]);
  }

  /** Every registered node; `live` when seen within `staleMs`. */
  async list(staleMs: number): Promise<NodeInfo[]> {
    const r = await this.pool.query<{ node_id: string; url: string; started_at: Date; last_seen: Date; live: boolean }>(
      `SELECT node_id, url, started_at, last_seen, last_seen > now() - $1 * interval '1 millisecond' AS live
       FROM cluster_nodes ORDER BY node_id`,
      [staleMs],
    );
    return r.rows.map((x) => ({ nodeId: x.node_id, url: x.url, startedAt: x.started_at, lastSeen: x.last_seen, live: x.live }));
  }
}
