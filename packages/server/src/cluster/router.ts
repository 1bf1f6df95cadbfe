import type { Logger } from "pino";
import type { Clock } from "../config.ts";
import type { HeldLease, LeaseTable, PreviousOwner } from "./leases.ts";

/**
 * Lease timing. A node renews every lease it holds each `renewIntervalMs`; a lease that is
 * not renewed expires `leaseTtlMs` after its last renewal (database time). So a node killed
 * with SIGKILL loses its rooms at most `leaseTtlMs` after its last successful renewal, and a
 * connection arriving after that starts the room on a live node (docs/scaling.md).
 */
export interface LeaseTiming {
  leaseTtlMs: number;
  renewIntervalMs: number;
  /**
   * A lease taken for a handshake whose room never appeared (the client went away) is given
   * back after this long without use.
   */
  unusedGraceMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseTtlMs: 10_000, renewIntervalMs: 2_500, unusedGraceMs: 5_000 };

/** Where a connection for a room must go. */
export type Route =
  | { kind: "local"; token: string }
  | { kind: "remote"; nodeId: string; url: string }
  | { kind: "unavailable"; reason: string };

/**
 * A lease this node holds, with the local time until which it may act on it. `validUntil` is
 * measured from when the renewal was *sent*, so it always ends before the database's
 * `expires_at` (which counts from when the statement ran): the node stops trusting a lease
 * before any other node can take it, whatever the two clocks read (only rates matter).
 */
interface LocalLease {
  lease: HeldLease;
  validUntil: number;
  lastUsed: number;
  /** Set while the row is being deleted: route() waits for it, then takes a fresh lease. */
  releasing: Promise<void> | null;
  /**
   * True from the acquisition until `onAcquired` finished (the previous owner's containers
   * removed, its sessions ended): meanwhile the lease is renewed but not trusted, so no other
   * connection is served here and the lease is not given back as idle.
   */
  takingOver: boolean;
}

export interface RoomRouterDeps {
  leases: LeaseTable;
  nodeId: string;
  clock: Clock;
  logger: Logger;
  timing: LeaseTiming;
  /** True while the room has anything running here (a Room object or services still stopping). */
  isBusy: (room: string) => boolean;
  /** Ends the room's session here at once: its lease is gone (fencing). */
  onLeaseLost: (room: string) => void;
  /**
   * Runs after a lease was taken and before the room is served here: clears what a previous
   * owner (perhaps killed; `previous`, null when the room was free) left behind — partial
   * uploads in the shared directory, its containers of the room on a shared engine.
   */
  onAcquired: (room: string, previous: PreviousOwner | null) => Promise<void>;
}

/**
 * Decides, per room, whether this node serves it or which node does, and keeps this node's
 * leases alive. One owner per room at a time is the database's job (LeaseTable.acquire is a
 * single conditional upsert); this class adds coalescing (many first connections to one room
 * on this node make one acquisition), renewal, release when the room is idle, and fencing:
 * a lease that could not be renewed in time, or that another node took, ends the room here.
 */
export class RoomRouter {
  private readonly held = new Map<string, LocalLease>();
  private readonly pending = new Map<string, Promise<Route>>();
  private readonly d: RoomRouterDeps;
  private readonly log: Logger;

  constructor(d: RoomRouterDeps) {
    this.d = d;
    this.log = d.logger.child({ component: "cluster-router" });
  }

  /** Rooms this node holds a lease on (diagnostics, tests). */
  heldRooms(): string[] {
    return [...this.held.keys()];
  }

  /** The fencing token this node holds for a room while its lease is valid here, else null. */
  token(room: string): string | null {
    const h = this.held.get(room);
    return h !== undefined && usable(h, this.d.clock.now()) ? h.lease.token : null;
  }

  /** Where a connection for `room` goes; takes the lease when the room is free. */
  route(room: string): Promise<Route> {
    const h = this.held.get(room);
    const now = this.d.clock.now();
    if (h !== undefined && usable(h, now)) {
      h.lastUsed = now;
      return Promise.resolve({ kind: "local", token: h.lease.token });
    }
    let p = this.pending.get(room);
    if (p === undefined) {
      p = this.resolve(room, h).finally(() => this.pending.delete(room));
      this.pending.set(room, p);
    }
    return p;
  }

  private async resolve(room: string, h: LocalLease | undefined): Promise<Route> {
    if (h?.releasing) await h.releasing.catch(() => undefined);
    for (let attempt = 0; attempt < 2; attempt++) {
      const sent = this.d.clock.now();
      const got = await this.d.leases.acquire(room, this.d.timing.leaseTtlMs);
      if (got !== null) {
        const held: LocalLease = { lease: got, validUntil: this.validFrom(sent), lastUsed: this.d.clock.now(), releasing: null, takingOver: true };
        this.held.set(room, held);
        this.log.debug({ room, token: got.token }, "room lease acquired");
        try {
          await this.d.onAcquired(room, got.previous ?? null);
        } catch (err) {
          // Not served here until what the previous owner left is cleared: give the lease back
          // (the client retries the 503, and the next acquisition tries again).
          const why = (err as Error).message;
          this.log.warn({ room, err: why }, "could not take the room over; lease given back");
          if (this.held.get(room) === held) this.held.delete(room);
          await this.d.leases.release(got).catch(() => undefined);
          return { kind: "unavailable", reason: `room ${room} could not be taken over here (${why}); retry` };
        }
        held.takingOver = false;
        held.lastUsed = this.d.clock.now();
        if (this.held.get(room) !== held || !usable(held, this.d.clock.now())) {
          return { kind: "unavailable", reason: `room ${room} lost its lease while being taken over; retry` };
        }
        return { kind: "local", token: got.token };
      }
      const owner = await this.d.leases.owner(room);
      if (owner.kind === "node" && owner.nodeId !== this.d.nodeId) return { kind: "remote", nodeId: owner.nodeId, url: owner.url };
      // The lease expired (or was released) between the two statements: try once more.
    }
    return { kind: "unavailable", reason: `room ${room} is changing owner; retry` };
  }

  private validFrom(sentAt: number): number {
    // One renewal interval of safety on top of "sent before the statement ran".
    return sentAt + this.d.timing.leaseTtlMs - this.d.timing.renewIntervalMs;
  }

  /**
   * One maintenance round: give back leases of rooms that went idle, renew the others, and
   * end every room whose lease was lost or could not be renewed before it ran out here.
   */
  async tick(): Promise<void> {
    const now = this.d.clock.now();
    const releases: Promise<void>[] = [];
    for (const [room, h] of this.held) {
      if (h.releasing !== null || h.takingOver || this.d.isBusy(room) || now - h.lastUsed < this.d.timing.unusedGraceMs) continue;
      h.releasing = this.d.leases.release(h.lease).catch((err: Error) => {
        // Left in place it simply expires after the TTL.
        this.log.warn({ room, err: err.message }, "could not release room lease; it will expire");
      }).finally(() => {
        if (this.held.get(room) === h) this.held.delete(room);
      });
      releases.push(h.releasing);
    }
    const renewing = [...this.held.values()].filter((h) => h.releasing === null);
    const sent = this.d.clock.now();
    try {
      const renewed = await this.d.leases.renew(renewing.map((h) => h.lease), this.d.timing.leaseTtlMs);
      for (const h of renewing) {
        if (this.held.get(h.lease.room) !== h) continue;
        if (renewed.has(h.lease.room)) h.validUntil = this.validFrom(sent);
        else this.lose(h, "lease taken by another node or removed");
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message, leases: renewing.length }, "could not renew room leases");
      const after = this.d.clock.now();
      for (const h of renewing) if (this.held.get(h.lease.room) === h && h.validUntil <= after) this.lose(h, "lease could not be renewed in time");
    }
    await Promise.all(releases);
  }

  /**
   * Ends every room whose trust window has closed. Called by a watchdog timer of its own
   * (ClusterNode), not by tick(): a renewal stuck on a database that stopped answering must
   * not delay the loss past the window, so the room's services are killed before any other
   * node can take the lease (docs/scaling.md). A renewal that succeeds later finds the room
   * gone here and leaves it so (the lease lapses or is released).
   */
  expireOverdue(): void {
    const now = this.d.clock.now();
    for (const h of [...this.held.values()]) if (h.releasing === null && h.validUntil <= now) this.lose(h, "lease could not be renewed in time");
  }

  private lose(h: LocalLease, why: string): void {
    this.held.delete(h.lease.room);
    this.log.warn({ room: h.lease.room, token: h.lease.token, why }, "room lease lost: ending the room here");
    this.d.onLeaseLost(h.lease.room);
  }

  /** Gives back every lease (graceful shutdown, after the rooms ended). */
  async releaseAll(): Promise<void> {
    const all = [...this.held.values()];
    this.held.clear();
    await Promise.allSettled(all.map((h) => this.d.leases.release(h.lease)));
  }
}

/** A lease this node may act on now: not being given back or taken over, inside its trust window. */
function usable(h: LocalLease, now: number): boolean {
  return h.releasing === null && !h.takingOver && h.validUntil > now;
}
