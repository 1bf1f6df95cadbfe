import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerContext } from "../context.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { Runtime } from "../services/runtime-port.ts";
import { ownerIdFor } from "../services/select-runtime.ts";
import { RoomStorage } from "../storage/room-storage.ts";
import { endStoredSessions, type StoredSessionEnding } from "../store/session-end.ts";
import type { Store } from "../store/db.ts";
import { ToolError } from "../toolkits/types.ts";
import { installClusterHttp } from "./http.ts";
import type { PreviousOwner } from "./leases.ts";
import { ClusterNode, type ClusterOptions } from "./node.ts";

export { ClusterNode, type ClusterOptions } from "./node.ts";
export { DEFAULT_LEASE_TIMING, type LeaseTiming } from "./router.ts";

/**
 * Joins this server to its cluster (issue 11 §2): a ClusterNode whose id is the runtime's
 * owner id (so the node's containers carry it as their label and a restarted node reaps only
 * its own), wired to the rooms (lease lost → the room ends here; lease taken → a dead owner's
 * partial uploads are cleared; storage writes are fenced by the lease) and to the HTTP app
 * (live-room calls forwarded, configuration changes announced).
 */
export async function startClusterSide(d: {
  options: ClusterOptions; dataDir: string; ctx: ServerContext; rooms: RoomManager; app: FastifyInstance;
  /** The node's container runtime (other nodes' leftovers on a shared engine are removed through it). */
  runtime: Runtime | null;
  /** True while the launcher still has the room's session (its services may still be stopping). */
  liveSessionOf: (room: string) => boolean;
  /** Kills whatever services the launcher still has for the room (a stop in its grace is cut short). */
  killServices: (room: string) => void;
  /** Drops Studio sessions opened with an API key another node deleted. */
  revokeApiKey: (id: string) => Promise<void>;
  /** Re-reads the per-room settings cache (another node changed a setting). */
  reloadRoomSettings: () => Promise<void>;
  /** The REST API's credential check (throws RoomserviceError 401/403): run before a request is forwarded. */
  authenticate: (req: FastifyRequest) => Promise<void>;
}): Promise<ClusterNode> {
  const { ctx, rooms } = d;
  const node: ClusterNode = await ClusterNode.create({
    options: d.options, nodeId: ownerIdFor(d.dataDir), logger: ctx.logger, clock: ctx.clock, runtime: d.runtime,
    isBusy: (room) => rooms.get(room) !== undefined || d.liveSessionOf(room),
    onLeaseLost: (room) => {
      rooms.get(room)?.endSession("lease_lost");
      // A session that had already ended (its services in their stop grace) is not ended
      // again above: its services are killed here, as a lost lease's always are.
      d.killServices(room);
    },
    onAcquired: async (room, previous) => {
      // Nobody else runs the room now: an open session row of it is a dead or fenced owner's.
      // This node's own earlier session of the room (ended, its row still queued) is written first.
      await ctx.sessions.settled();
      const closed = await endSessionsOfRoom(node, ctx.store, ctx.clock.now(), room, rooms.get(room)?.session?.id ?? "", previous);
      if (closed > 0) ctx.logger.warn({ room, sessions: closed, previous: previous?.nodeId }, "closed the room's session left open by its previous node");
      await new RoomStorage(rooms.roomDir(room)).discardIncompleteUploads();
    },
    onDeadNode: async (deadId) => {
      const closed = await endSessionsOfDeadNode(node, ctx.store, ctx.clock.now(), deadId);
      if (closed > 0) ctx.logger.warn({ node: deadId, sessions: closed }, "closed the sessions a dead node left open");
    },
  });
  const closed = await endUncoveredSessions(node, ctx.store, ctx.clock.now());
  if (closed > 0) ctx.logger.warn({ sessions: closed }, "closed sessions of rooms no live node holds");
  rooms.fence = (room) => {
    if (node.router.token(room) === null) {
      throw new ToolError(`room ${room} is no longer served by this node (its lease moved or lapsed); reconnect`, 503);
    }
  };
  installClusterHttp(d.app, node, d.authenticate);
  node.config.on("change", (c) => {
    if (c.kind === "resync" || c.scope === "rooms/settings") {
      d.reloadRoomSettings().catch((err: Error) => ctx.logger.warn({ err: err.message }, "could not reload room settings"));
    }
    if (c.kind === "change" && c.method === "DELETE") {
      const m = /\/api-keys\/([^/?]+)$/.exec(c.path);
      if (m !== null) d.revokeApiKey(decodeURIComponent(m[1]!)).catch((err: Error) => ctx.logger.warn({ err: err.message }, "could not revoke the Studio sessions of a deleted API key"));
    }
  });
  return node;
}

// Which sessions a cluster must end without their room is cluster knowledge (leases, nodes);
// how a session is ended is the store's, the same as a single server's start-up
// (store/session-end.ts: row, SessionEnded event, participants, first ending wins).

/**
 * At a node's start: the open sessions of every room no live lease covers (their node died,
 * or was this node's earlier run). Reason `server_restart`, as a single server's start-up.
 */
async function endUncoveredSessions(node: ClusterNode, store: Store, now: number): Promise<number> {
  const r = await node.pool.query<{ id: string }>(
    `SELECT id FROM sessions WHERE ended_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM room_leases l WHERE l.room = sessions.room AND l.expires_at > now())`);
  return await endStoredSessions(store, r.rows.map((x) => x.id), { at: now, reason: "server_restart", detail: `the node that ran it stopped without closing it (found by node ${node.nodeId} at its start)` });
}

/**
 * When this node has just taken `room`'s lease: the room's open sessions other than `keep`
 * (this node's own live one, if it re-took a lease it was about to lose). A dead previous
 * owner's end with `server_restart`; a live one's (it stalled past its lease and will find it
 * gone when it runs again) with `lease_lost`, the reason it would give them itself.
 */
async function endSessionsOfRoom(node: ClusterNode, store: Store, now: number, room: string, keep: string, previous: PreviousOwner | null): Promise<number> {
  const r = await node.pool.query<{ id: string }>("SELECT id FROM sessions WHERE ended_at IS NULL AND room = $1 AND id <> $2", [room, keep]);
  const ending: StoredSessionEnding = previous !== null && !previous.dead
    ? { at: now, reason: "lease_lost", detail: `node ${previous.nodeId} lost the room's lease; node ${node.nodeId} took it` }
    : { at: now, reason: "server_restart", detail: `${previous === null ? "the node that ran it" : `node ${previous.nodeId}`} stopped without closing it; node ${node.nodeId} took the room` };
  return await endStoredSessions(store, r.rows.map((x) => x.id), ending);
}

/**
 * When this node finds `deadId` dead (the reaper's sweep): the open sessions of the rooms whose
 * lease it held and let expire — rooms nobody connects to again, so no takeover ends them.
 * A room another node took meanwhile has that node's lease row instead, and is left alone.
 */
async function endSessionsOfDeadNode(node: ClusterNode, store: Store, now: number, deadId: string): Promise<number> {
  const r = await node.pool.query<{ id: string }>(
    `SELECT s.id FROM sessions s JOIN room_leases l ON l.room = s.room
     WHERE s.ended_at IS NULL AND l.node_id = $1 AND l.expires_at <= now()`, [deadId]);
  return await endStoredSessions(store, r.rows.map((x) => x.id), { at: now, reason: "server_restart", detail: `node ${deadId} stopped without closing it (found dead by node ${node.nodeId})` });
}
