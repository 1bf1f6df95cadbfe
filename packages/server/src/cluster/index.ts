import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
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
  /** True while the launcher still has the room's session (its services may still be stopping). */
  liveSessionOf: (room: string) => boolean;
  /** Drops Studio sessions opened with an API key another node deleted. */
  revokeApiKey: (id: string) => void;
}): Promise<ClusterNode> {
  const { ctx, rooms } = d;
  const node = await ClusterNode.create({
    options: d.options, nodeId: ownerIdFor(d.dataDir), logger: ctx.logger, clock: ctx.clock,
    isBusy: (room) => rooms.get(room) !== undefined || d.liveSessionOf(room),
    onLeaseLost: (room) => rooms.get(room)?.endSession("lease_lost"),
    onAcquired: (room) => new RoomStorage(rooms.roomDir(room)).discardIncompleteUploads(),
  });
  rooms.fence = (room) => {
    if (node.router.token(room) === null) {
      throw new ToolError(`room ${room} is no longer served by this node (its lease moved or lapsed); reconnect`, 503);
    }
  };
  installClusterHttp(d.app, node);
  node.config.on("change", (c) => {
    if (c.kind === "change" && c.method === "DELETE") {
      const m = /\/api-keys\/([^/?]+)$/.exec(c.path);
      if (m !== null) d.revokeApiKey(decodeURIComponent(m[1]!));
    }
  });
  return node;
}
