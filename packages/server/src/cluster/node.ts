import pg from "pg";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import type { Clock } from "../config.ts";
import type { Runtime } from "../services/runtime-port.ts";
import { ConfigBus } from "./config-bus.ts";
import { ForeignReaper } from "./reaper.ts";
import { FORWARDED_BY_HEADER, forwardUpgrade } from "./forward.ts";
import { LeaseTable, type PreviousOwner } from "./leases.ts";
import { NodeRegistry } from "./nodes.ts";
import { DEFAULT_LEASE_TIMING, RoomRouter, type LeaseTiming } from "./router.ts";

/** What `serve --cluster` adds to a server (issue 11 §2; docs/scaling.md). */
export interface ClusterOptions {
  /** postgres://… — the database every node of the cluster shares. */
  databaseUrl: string;
  /** The directory every node shares for room storage (NFS/CephFS/EFS in production). */
  sharedDir: string;
  /** The URL other nodes reach this one at (default: the address it listens on). */
  advertiseUrl?: string;
  timing?: Partial<LeaseTiming>;
}

/** What a node tells the upgrade handler: serve the room here, or it was handled (forwarded or refused). */
export type UpgradeDecision = "local" | "handled";

interface ClusterNodeDeps {
  options: ClusterOptions;
  /** Stable node id: the runtime's owner id, so this node's containers carry it as their label. */
  nodeId: string;
  logger: Logger;
  clock: Clock;
  isBusy: (room: string) => boolean;
  onLeaseLost: (room: string) => void;
  /** After this node took `room`'s lease, before serving it (its previous owner's containers are gone by then). */
  onAcquired: (room: string, previous: PreviousOwner | null) => Promise<void>;
  /** The reaper's sweep found `nodeId` dead (stale heartbeat, no live lease): end what it left open. */
  onDeadNode: (nodeId: string) => Promise<void>;
  /** This node's container runtime: other nodes' leftovers on a shared engine are removed through it. */
  runtime: Runtime | null;
}

type LoopState = { kind: "stopped" } | { kind: "running"; timer: { cancel(): void } | null; inFlight: Promise<void> | null };

/**
 * One node of a cluster: its database pool, its registration and heartbeat, the room router
 * and its lease loop, and the configuration bus. Created before the server listens (so no
 * handshake is routed without it) and registered with its URL once it listens.
 */
export class ClusterNode {
  readonly nodeId: string;
  /** Requests, listings, `/healthz`, the sweep. */
  readonly pool: pg.Pool;
  /** The lease round's own connections (heartbeat, renewal, release): never starved by `pool`'s callers. */
  private readonly roundPool: pg.Pool;
  readonly leases: LeaseTable;
  readonly nodes: NodeRegistry;
  readonly router: RoomRouter;
  readonly config: ConfigBus;
  readonly reaper: ForeignReaper;
  readonly timing: LeaseTiming;
  private readonly log: Logger;
  private readonly clock: Clock;
  private loop: LoopState = { kind: "stopped" };
  /** The trust-window watchdog (RoomRouter.expireOverdue), independent of the lease round. */
  private watchdog: { cancel(): void } | null = null;
  private url: string | null = null;

  private constructor(d: ClusterNodeDeps, pool: pg.Pool, roundPool: pg.Pool) {
    this.nodeId = d.nodeId;
    this.pool = pool;
    this.roundPool = roundPool;
    this.clock = d.clock;
    this.log = d.logger.child({ component: "cluster", node: d.nodeId });
    this.timing = { ...DEFAULT_LEASE_TIMING, ...d.options.timing };
    if (this.timing.renewIntervalMs * 2 > this.timing.leaseTtlMs) {
      throw new Error(`cluster lease timing: renewIntervalMs (${this.timing.renewIntervalMs}) must be at most half of leaseTtlMs (${this.timing.leaseTtlMs})`);
    }
    this.leases = new LeaseTable(pool, d.nodeId, roundTimeoutMs(this.timing), roundPool);
    this.nodes = new NodeRegistry(roundPool, d.nodeId, roundTimeoutMs(this.timing));
    this.router = new RoomRouter({
      leases: this.leases, nodeId: d.nodeId, clock: d.clock, logger: d.logger, timing: this.timing,
      isBusy: d.isBusy, onLeaseLost: d.onLeaseLost,
      // The previous owner's containers go first (before anything else, so they cannot write
      // the room's storage any more), then the room's own leftovers (uploads, session rows).
      onAcquired: async (room, previous) => {
        await this.reaper.onTakeover(room, previous);
        await d.onAcquired(room, previous);
      },
    });
    this.config = new ConfigBus({ databaseUrl: d.options.databaseUrl, nodeId: d.nodeId, logger: this.log, clock: d.clock, pool });
    // Dead nodes are looked for every renewal interval (one small query); "dead" = silent for a
    // whole TTL, no live lease. So a dead node's leftovers go within TTL + TTL/4 of its death.
    this.reaper = new ForeignReaper({ leases: this.leases, runtime: d.runtime, onDeadNode: d.onDeadNode, clock: d.clock, logger: this.log, intervalMs: this.timing.renewIntervalMs, staleMs: this.timing.leaseTtlMs });
  }

  /**
   * Connects (the tables are store migration 6), drops this node id's leftover leases (the
   * data directory lock proves no other process runs as this node) and starts listening for
   * configuration changes. Throws with the database's reason when it cannot connect.
   */
  static async create(d: ClusterNodeDeps): Promise<ClusterNode> {
    // The tables are the store's (migration 6), which the server opened and migrated first.
    // Getting a connection is bounded, and so are the lease round's statements (LeaseTable,
    // NodeRegistry): a database that stops answering (a black-holed network, not a refused
    // connection) must not hang the lease loop for good.
    const timing = { ...DEFAULT_LEASE_TIMING, ...d.options.timing };
    const pool = new pg.Pool({ connectionString: d.options.databaseUrl, max: 8, connectionTimeoutMillis: roundTimeoutMs(timing) });
    // The lease round's own two connections (heartbeat and renewal run one after the other;
    // the second is for an idle release beside them): a flood of requests on `pool` (`/healthz`
    // is public) cannot make a renewal wait past the trust window and end every room here.
    const roundPool = new pg.Pool({ connectionString: d.options.databaseUrl, max: 2, connectionTimeoutMillis: roundTimeoutMs(timing) });
    for (const p of [pool, roundPool]) p.on("error", (err) => d.logger.warn({ err: err.message }, "idle database connection failed"));
    try {
      const node = new ClusterNode(d, pool, roundPool);
      const dropped = await node.leases.releaseAllOfThisNode();
      if (dropped > 0) node.log.warn({ leases: dropped }, "dropped room leases left by an earlier run of this node");
      await node.config.start();
      return node;
    } catch (err) {
      await pool.end().catch(() => undefined);
      await roundPool.end().catch(() => undefined);
      throw new Error(`cluster: cannot use the database: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Registers this node under `url` (its advertised URL wins) and starts heartbeats and lease renewal. */
  async register(listenUrl: string, advertiseUrl?: string): Promise<void> {
    this.url = advertiseUrl ?? listenUrl;
    await this.nodes.register(this.url);
    this.loop = { kind: "running", timer: null, inFlight: null };
    this.schedule();
    this.watch();
    this.reaper.start();
    this.log.info({ url: this.url, leaseTtlMs: this.timing.leaseTtlMs, renewIntervalMs: this.timing.renewIntervalMs }, "cluster node registered");
  }

  private schedule(): void {
    const loop = this.loop;
    if (loop.kind !== "running") return;
    loop.timer = this.clock.setTimeout(() => {
      loop.inFlight = (async () => {
        try {
          await this.nodes.heartbeat();
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, "heartbeat failed");
        }
        await this.router.tick();
      })().catch((err: Error) => this.log.error({ err }, "lease round failed")).finally(() => {
        loop.inFlight = null;
        this.schedule();
      });
    }, this.timing.renewIntervalMs);
  }

  /**
   * Every quarter renewal interval, ends the rooms whose trust window closed — even while the
   * lease round is stuck waiting for the database — so their services are killed well before
   * another node may take the lease (the window ends a renewal interval before the lease does).
   */
  private watch(): void {
    if (this.loop.kind !== "running") return;
    this.watchdog = this.clock.setTimeout(() => {
      this.router.expireOverdue();
      this.watch();
    }, Math.max(Math.floor(this.timing.renewIntervalMs / 4), 50));
  }

  /**
   * Routes a room's WebSocket handshake: "local" when this node owns the room (or just took
   * it); otherwise the handshake is forwarded to the owner, or refused with 503 when the room
   * is changing owner (the SDK retries a 503) — "handled" either way.
   */
  async routeUpgrade(room: string, req: IncomingMessage, socket: Duplex, head: Buffer, refuse: (status: number, reason: string) => void): Promise<UpgradeDecision> {
    const route = await this.router.route(room);
    if (route.kind === "local") return "local";
    if (route.kind === "unavailable") {
      refuse(503, route.reason);
      return "handled";
    }
    if (req.headers[FORWARDED_BY_HEADER] !== undefined) {
      // Forwarded to us, yet another node owns the room: it moved meanwhile. Never forward twice.
      refuse(503, `room ${room} moved to another node; retry`);
      return "handled";
    }
    forwardUpgrade(req, socket, head, route.url, this.nodeId, (err) => {
      this.log.warn({ room, owner: route.nodeId, url: route.url, err: err.message }, "owner node unreachable");
      refuse(503, `the node that runs room ${room} is unreachable; retry (its lease lapses within ${this.timing.leaseTtlMs} ms if it is gone)`);
    });
    return "handled";
  }

  /** Stops the loop, gives back every lease and deregisters (graceful shutdown, after rooms ended). */
  async close(): Promise<void> {
    const loop = this.loop;
    this.loop = { kind: "stopped" };
    if (loop.kind === "running") {
      loop.timer?.cancel();
      this.watchdog?.cancel();
      this.watchdog = null;
      await loop.inFlight;
    }
    await this.router.releaseAll().catch(() => undefined);
    if (this.url !== null) await this.nodes.deregister().catch(() => undefined);
    await this.reaper.close();
    await this.config.close();
    await this.pool.end().catch(() => undefined);
    await this.roundPool.end().catch(() => undefined);
  }
}

/**
 * How long one statement of the lease round may take: a lease TTL. Losing a lease does not
 * wait for it (the watchdog ends rooms when their trust window closes, whatever the round is
 * doing); the bound only keeps one hung statement from stalling every later round, which may
 * succeed once the database answers again. Shorter would turn a loaded database's slow
 * answers into lost rooms.
 */
function roundTimeoutMs(t: LeaseTiming): number {
  return t.leaseTtlMs;
}
