import type { FastifyInstance, FastifyRequest } from "fastify";
import { FORWARDED_BY_HEADER, forwardHttp } from "./forward.ts";
import type { ClusterNode } from "./node.ts";

/**
 * REST paths that need the room's live session (its services, streams, live snapshot), so a
 * non-owner forwards them to the owner: `/accounts/projects/{p}/rooms/{room}/…`. Everything
 * else reads the shared database or the shared storage directory and is answered by any node
 * (storage download URLs included: the file is read from the shared directory).
 */
const LIVE_ROOM_PATH = /^\/accounts\/projects\/[^/]+\/rooms\/([^/?]+)\/(stream|live|services\/[^/?]+\/(?:logs|restart|stop))(?:[/?]|$)/;

/** Ending a live session by its id: the room is looked up in the sessions table. */
const TERMINATE_PATH = /^\/accounts\/projects\/[^/]+\/sessions\/([^/?]+)\/terminate(?:[/?]|$)/;

/** Successful writes under these paths change configuration every node must see at once. */
/**
 * Writes that change configuration other nodes cache: project services/secrets/keys/LLM, a
 * room's services/secrets/settings, and a room itself (`PUT`/`DELETE …/rooms/{room}`: an
 * update or a delete, which removes its settings too — announced as the room's settings).
 */
const CONFIG_PATH = /^\/accounts\/projects\/[^/]+\/(?:(services|secrets|api-keys|llm|rooms\/[^/?]+\/(?:services|secrets|settings))(?:[/?]|$)|(rooms\/[^/?]+)(?:\?|$))/;

/**
 * Installs the cluster's HTTP side on the root app: forwarding of live-room REST calls and
 * SSE streams to the owner node, and a configuration-change announcement after every
 * successful configuration write (ConfigBus; listeners drop their caches).
 *
 * A request is forwarded only once `authenticate` accepted it (the owner checks it again):
 * as everywhere in the server, the credential comes first, so an unauthenticated caller gets
 * 401 here and makes this node neither look the room up in the database nor open a
 * connection to the owner and stream its body there.
 */
export function installClusterHttp(app: FastifyInstance, node: ClusterNode, authenticate: (req: FastifyRequest) => Promise<void>): void {
  app.addHook("onRequest", async (req, reply) => {
    if (req.headers[FORWARDED_BY_HEADER] !== undefined) return;
    const path = livePathOf(req.url);
    if (path === null) return;
    // A room held here is served here: the REST scope's own hook authenticates it.
    if (path.kind === "room" && node.router.token(path.room) !== null) return;
    await authenticate(req);
    const room = path.kind === "room" ? path.room : await roomOfSession(node, path.sessionId);
    if (room === null || node.router.token(room) !== null) return;
    const owner = await node.leases.owner(room);
    if (owner.kind !== "node" || owner.nodeId === node.nodeId) return;
    reply.hijack();
    forwardHttp(req.raw, reply.raw, owner.url, node.nodeId);
  });

  app.addHook("onResponse", async (req, reply) => {
    if (req.method === "GET" || req.method === "HEAD" || reply.statusCode >= 400) return;
    const m = CONFIG_PATH.exec(req.url);
    if (m === null) return;
    const scope = m[1] === undefined ? "rooms/settings" : m[1].startsWith("rooms/") ? `rooms/${m[1].split("/").pop()}` : m[1];
    await node.config.publish({ scope, path: req.url.split("?")[0]!, method: req.method }).catch((err: Error) => {
      req.log.warn({ err: err.message }, "could not announce a configuration change to the other nodes");
    });
  });
}

/** What a live-room request is about, from its path alone (no I/O); null when it is not one (or is badly encoded). */
export function livePathOf(url: string): { kind: "room"; room: string } | { kind: "session"; sessionId: string } | null {
  try {
    const m = LIVE_ROOM_PATH.exec(url);
    if (m !== null) return { kind: "room", room: decodeURIComponent(m[1]!) };
    const t = TERMINATE_PATH.exec(url);
    return t === null ? null : { kind: "session", sessionId: decodeURIComponent(t[1]!) };
  } catch {
    return null; // a bad percent-encoding: the route itself answers it
  }
}

/** The room of an open session (the terminate path names the session only). */
async function roomOfSession(node: ClusterNode, sessionId: string): Promise<string | null> {
  const r = await node.pool.query<{ room: string }>("SELECT room FROM sessions WHERE id = $1 AND ended_at IS NULL", [sessionId]);
  return r.rows[0]?.room ?? null;
}
