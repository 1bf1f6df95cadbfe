import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { Runtime } from "../services/runtime-port.ts";
import { ownerIdFor } from "../services/select-runtime.ts";
import { RoomStorage } from "../storage/room-storage.ts";
import { ToolError } from "../toolkits/types.ts";
import { installClusterHttp } from "./http.ts";
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
  /** Drops Studio sessions opened with an API key another node deleted. */
  revokeApiKey: (id: string) => Promise<void>;
  /** Re-reads the per-room settings cache (another node changed a setting). */
  reloadRoomSettings: () => Promise<void>;
}): Promise<ClusterNode> {
  const { ctx, rooms } = d;
  const node = await ClusterNode.create({
    options: d.options, nodeId: ownerIdFor(d.dataDir), logger: ctx.logger, clock: ctx.clock, runtime: d.runtime,
    isBusy: (room) => rooms.get(room) !== undefined || d.liveSessionOf(room),
    onLeaseLost: (room) => rooms.get(room)?.endSession("lease_lost"),
    onAcquired: async (room) => {
      // Nobody else runs the room now: an open session row of it is a dead owner's.
      const closed = await closeDanglingSessions(node, ctx.clock.now(), { room, keep: rooms.get(room)?.session?.id ?? "" });
      if (closed > 0) ctx.logger.warn({ room, sessions: closed }, "closed the room's session left open by a node that died");
      await new RoomStorage(rooms.roomDir(room)).discardIncompleteUploads();
    },
  });
  const closed = await closeDanglingSessions(node, ctx.clock.now());
  if (closed > 0) ctx.logger.warn({ sessions: closed }, "closed sessions of rooms no live node holds");
  rooms.fence = (room) => {
    if (node.router.token(room) === null) {
      throw new ToolError(`room ${room} is no longer served by this node (its lease moved or lapsed); reconnect`, 503);
    }
  };
  installClusterHttp(d.app, node);
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

/**
 * Ends session rows left open (`ended_at IS NULL`) by a node that died: those of `room`
 * (called when this node has just taken its lease; `keep` is its own live session there, if
 * it re-took a lease it was about to lose), or of every room no live lease covers.
 * Reason `server_restart`, as the single-node start-up gives them.
 */
async function closeDanglingSessions(node: ClusterNode, now: number, only?: { room: string; keep: string }): Promise<number> {
  const r = only === undefined
    ? await node.pool.query(
      `UPDATE sessions SET ended_at = $1, end_reason = 'server_restart' WHERE ended_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM room_leases l WHERE l.room = sessions.room AND l.expires_at > now())`, [now])
    : await node.pool.query("UPDATE sessions SET ended_at = $1, end_reason = 'server_restart' WHERE ended_at IS NULL AND room = $2 AND id <> $3", [now, only.room, only.keep]);
  return r.rowCount ?? 0;
}
