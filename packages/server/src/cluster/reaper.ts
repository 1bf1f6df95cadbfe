import type { Logger } from "pino";
import type { Clock } from "../config.ts";
import type { Runtime } from "../services/runtime-port.ts";
import type { LeaseTable, PreviousOwner } from "./leases.ts";

/**
 * How long a dead node's `cluster_nodes` row (and its expired leases) is kept after its last
 * heartbeat: a day. Long past any takeover or sweep (which need the rows to find what the node
 * left), short enough that a cluster whose nodes come and go (new Pod, new data volume, new id)
 * does not collect them for ever. A node that comes back after that registers again.
 */
export const DEAD_NODE_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Rows forgotten per sweep at most (one bounded statement, even after a long outage). */
export const FORGET_PER_ROUND = 100;

type ReaperState = { kind: "idle" } | { kind: "running"; timer: { cancel(): void } | null; sweep: Promise<void> | null } | { kind: "closed" };

/**
 * Removes other nodes' service containers from this node's container engine when those
 * nodes no longer hold the rooms (issue 11 gap 4). A killed node's containers outlive it
 * (they are the engine's children) and keep their storage mount; when nodes share an engine
 * (one Docker daemon, one Kubernetes namespace) the node that takes a room over removes them:
 *
 * - at takeover (before the room is served here, so old and new services never overlap on
 *   one engine): the previous owner's containers of that room only (`reapRoom`), whether it
 *   is dead or merely lost the lease — the first connection to one of a dead node's rooms
 *   must not wait for every other room's containers to go; a dead owner's other leftovers go
 *   in the background (the sweep is woken at once). A runtime without `reapRoom` (kubernetes,
 *   podman: a room's services are one Pod, found by owner only) removes a dead owner's
 *   leftovers all at once before serving (`reapOrphans(its id)`), as before, and cannot
 *   remove a live one's;
 * - every `intervalMs`, the leftovers of every dead node (stale heartbeat, no live lease) —
 *   rooms nobody connects to again would otherwise keep its containers until it restarts,
 *   and their session rows open (`onDeadNode` ends those, runtime or not).
 *
 * Nodes on separate engines find nothing to remove: there, a dead node's containers run
 * until it restarts (it reaps its own at start), and only the storage fence protects the
 * room's files (docs/scaling.md).
 */
export class ForeignReaper {
  private readonly d: {
    leases: LeaseTable; runtime: Runtime | null; clock: Clock; logger: Logger; intervalMs: number; staleMs: number;
    /** Ends the sessions a dead node left open (run by the sweep whether or not there is a runtime). */
    onDeadNode: (nodeId: string) => Promise<void>;
  };
  /** Dead node id → its heartbeat when last reaped (a node that returns and dies again is reaped again). */
  private readonly reaped = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private state: ReaperState = { kind: "idle" };

  constructor(d: ForeignReaper["d"]) {
    this.d = d;
  }

  /** Before a room taken from `previous` is served here. Never throws (reaping is best effort). */
  async onTakeover(room: string, previous: PreviousOwner | null): Promise<void> {
    const rt = this.d.runtime;
    if (rt === null || previous === null) return;
    try {
      if (rt.reapRoom !== undefined) {
        const r = await rt.reapRoom(previous.nodeId, room);
        if (r.containers > 0) this.d.logger.warn({ room, previous: previous.nodeId, containers: r.containers }, previous.dead ? "removed the room's containers left by its dead previous owner" : "removed the room's containers left by the node that lost its lease");
        // The rest of a dead node's leftovers: the sweep, now rather than at its next tick.
        if (previous.dead) this.wake();
      } else if (previous.dead) await this.reapNode(previous.nodeId);
    } catch (err) {
      this.d.logger.warn({ room, previous: previous.nodeId, err: (err as Error).message }, "could not remove the previous owner's containers of the room");
    }
  }

  /** Starts the periodic sweep for dead nodes' leftovers. */
  start(): void {
    if (this.state.kind !== "idle") return;
    this.state = { kind: "running", timer: null, sweep: null };
    this.schedule(0);
  }

  /** Runs the sweep soon (a takeover found a dead node) unless one is running; no-op before start(). */
  private wake(): void {
    const st = this.state;
    if (st.kind !== "running" || st.sweep !== null) return;
    st.timer?.cancel();
    this.schedule(0);
  }

  private schedule(ms: number): void {
    const st = this.state;
    if (st.kind !== "running") return;
    st.timer = this.d.clock.setTimeout(() => {
      st.sweep = this.sweep().finally(() => {
        st.sweep = null;
        this.schedule(this.d.intervalMs);
      });
    }, ms);
  }

  private async sweep(): Promise<void> {
    let dead: { nodeId: string; lastSeen: number }[];
    try {
      dead = await this.d.leases.deadNodes(this.d.staleMs);
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message }, "could not look for dead nodes' leftovers");
      return;
    }
    // Only nodes still dead are remembered: the map stays as small as the list of dead nodes.
    const ids = new Set(dead.map((n) => n.nodeId));
    for (const id of [...this.reaped.keys()]) if (!ids.has(id)) this.reaped.delete(id);
    for (const n of dead) {
      if (this.reaped.get(n.nodeId) === n.lastSeen) continue;
      try {
        await this.d.onDeadNode(n.nodeId);
        if (this.d.runtime !== null) await this.reapNode(n.nodeId);
        this.reaped.set(n.nodeId, n.lastSeen);
      } catch (err) {
        // Tried again at the next sweep.
        this.d.logger.warn({ node: n.nodeId, err: (err as Error).message }, "could not clear a dead node's leftovers");
      }
    }
    // Nodes cleared (here or at an earlier sweep) and silent past the retention (database time) are forgotten.
    const forget = dead.filter((n) => this.reaped.get(n.nodeId) === n.lastSeen).map((n) => n.nodeId);
    try {
      const f = await this.d.leases.forgetLongDead(forget, DEAD_NODE_RETENTION_MS, FORGET_PER_ROUND);
      if (f.nodes + f.leases > 0) this.d.logger.info({ ...f, retentionMs: DEAD_NODE_RETENTION_MS }, "forgot nodes and leases dead for longer than the retention");
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message }, "could not delete long-dead nodes' rows");
    }
  }

  /** One reap per dead node at a time (many of its rooms may be taken over at once). */
  private reapNode(nodeId: string): Promise<void> {
    let p = this.inFlight.get(nodeId);
    if (p === undefined) {
      p = (async () => {
        const r = await this.d.runtime!.reapOrphans(nodeId);
        if (r.containers + r.networks + r.files > 0) this.d.logger.warn({ node: nodeId, reaped: r }, "removed the leftovers of a dead node from this node's container engine");
      })().finally(() => this.inFlight.delete(nodeId));
      this.inFlight.set(nodeId, p);
    }
    return p;
  }

  /** Stops the sweep (waits for one in progress). */
  async close(): Promise<void> {
    const st = this.state;
    this.state = { kind: "closed" };
    if (st.kind === "running") {
      st.timer?.cancel();
      await st.sweep;
    }
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
