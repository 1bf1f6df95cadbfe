import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { externalHttpBase, roomWsUrl } from "./public-url.ts";
import { randomUUID } from "node:crypto";
import { WebSocketServer, type WebSocket } from "ws";
import { MessageType } from "@roomservice/protocol";
import { AuthError, verifyParticipantToken, type Principal } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import { Connection } from "../rooms/connection.ts";
import type { Dispatcher } from "../rooms/dispatch.ts";
import { roomNameError, type RoomManager } from "../rooms/room-manager.ts";

const SUBPROTOCOL_PREFIX = "meshagent-room.";

/**
 * Refuses a WebSocket handshake with a status and a reason. The SDK stops retrying at once
 * on 403/404 but retries 401 forever, so every auth failure is a 403 with the reason in
 * both the status line (which the SDK shows) and a JSON body.
 */
export function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  const statusText = reason.replace(/[^\x20-\x7e]/g, " ").slice(0, 200);
  const body = JSON.stringify({ error: reason });
  socket.write(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.destroy();
}

/** Where the token is: ?token=, Authorization: Bearer, or the meshagent-room.<jwt> subprotocol. */
export function tokenFromRequest(req: IncomingMessage, url: URL): { token: string | null; subprotocol: string | null } {
  const q = url.searchParams.get("token");
  if (q !== null && q.length > 0) return { token: q, subprotocol: null };
  const auth = req.headers.authorization;
  if (typeof auth === "string" && /^Bearer\s+/i.test(auth)) return { token: auth.replace(/^Bearer\s+/i, "").trim(), subprotocol: null };
  const protos = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  const p = protos.find((x) => x.startsWith(SUBPROTOCOL_PREFIX));
  if (p !== undefined) return { token: p.slice(SUBPROTOCOL_PREFIX.length), subprotocol: p };
  return { token: null, subprotocol: null };
}

/**
 * In a cluster, decides whether this node serves a room's handshake ("local") or has already
 * forwarded or refused it ("handled"); see cluster/node.ts.
 */
export type UpgradeRouter = (
  room: string, req: IncomingMessage, socket: Duplex, head: Buffer, refuse: (status: number, reason: string) => void,
) => Promise<"local" | "handled">;

export class RoomSocketServer {
  private readonly wss: WebSocketServer;
  /** Set by a cluster node: routes each handshake before the room is looked at here. */
  router: UpgradeRouter | null = null;
  private readonly ctx: ServerContext;
  private readonly rooms: RoomManager;
  private readonly dispatcher: Dispatcher;

  constructor(ctx: ServerContext, rooms: RoomManager, dispatcher: Dispatcher) {
    this.ctx = ctx;
    this.rooms = rooms;
    this.dispatcher = dispatcher;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.limits.maxFrameBytes,
      perMessageDeflate: false,
      // Echo the meshagent-room.<jwt> subprotocol when the client authenticated with it.
      handleProtocols: (protocols) => [...protocols].find((p) => p.startsWith(SUBPROTOCOL_PREFIX)) ?? false,
    });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => undefined);
    this.upgrade(req, socket, head).catch((err) => {
      this.ctx.logger.error({ err }, "upgrade failed");
      rejectUpgrade(socket, 500, "internal error during handshake");
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const m = /^\/rooms\/([^/]+)\/?$/.exec(url.pathname);
    if (m === null) return rejectUpgrade(socket, 404, `no WebSocket endpoint at ${url.pathname}; connect to /rooms/{room}`);
    let roomName: string;
    try {
      roomName = decodeURIComponent(m[1]!);
    } catch {
      return rejectUpgrade(socket, 404, "room name is not valid percent-encoding");
    }
    const nameErr = roomNameError(roomName);
    if (nameErr !== null) return rejectUpgrade(socket, 404, nameErr);
    const { token } = tokenFromRequest(req, url);
    if (token === null) {
      return rejectUpgrade(socket, 403, "missing token: pass ?token=<jwt>, an Authorization: Bearer header or the meshagent-room.<jwt> subprotocol");
    }
    let principal: Principal;
    try {
      principal = await verifyParticipantToken(this.ctx.secret, token, Math.floor(this.ctx.clock.now() / 1000));
    } catch (err) {
      if (err instanceof AuthError) return rejectUpgrade(socket, 403, err.message);
      throw err;
    }
    if (principal.room === undefined) return rejectUpgrade(socket, 403, "token has no room grant");
    if (principal.room !== roomName) {
      return rejectUpgrade(socket, 403, `token is for room ${JSON.stringify(principal.room)}, not ${JSON.stringify(roomName)}`);
    }
    if (this.router !== null && principal.service === undefined) {
      // Service connections arrive inside the owner's own namespace: always local.
      const decision = await this.router(roomName, req, socket, head, (status, reason) => rejectUpgrade(socket, status, reason));
      if (decision === "handled") return;
    }
    if (this.rooms.deleting.has(roomName)) return rejectUpgrade(socket, 409, `room ${JSON.stringify(roomName)} is being deleted`);
    // Only look: a refused handshake must not create a room (issue #12 item 5). The room is
    // created in accept(), and Room.admit drops it again if it refuses after all.
    const room = this.rooms.get(roomName);
    if ((room?.connections.size ?? 0) >= this.ctx.limits.maxConnectionsPerRoom) {
      return rejectUpgrade(socket, 503, `room is full (${this.ctx.limits.maxConnectionsPerRoom} connections)`);
    }
    const svc = principal.service;
    if (svc !== undefined && room?.session?.id !== svc.sessionId) {
      return rejectUpgrade(socket, 403, `service token belongs to session ${svc.sessionId}, which has ended`);
    }
    // A service's connection (inside its room, at 127.0.0.1:8078) gets URLs it can reach from
    // there; everyone else the public URL when one is set (http/public-url.ts).
    const base = svc !== undefined ? `http://${req.headers.host ?? "127.0.0.1:8078"}` : externalHttpBase(this.ctx.publicUrl, req.headers.host);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, roomName, principal, base));
  }

  private accept(ws: WebSocket, roomName: string, principal: Principal, baseUrl: string): void {
    const participantId = randomUUID();
    if (this.rooms.deleting.has(roomName)) {
      ws.close(1013, "room is being deleted");
      return;
    }
    // Look the room up again: it may have gone idle while the handshake was in flight.
    const room = this.rooms.getOrCreate(roomName);
    const conn = new Connection({
      ws, participantId, principal, limits: this.ctx.limits, clock: this.ctx.clock,
      log: room.log.child({ participant: participantId, identity: principal.identity }),
    });
    conn.httpBaseUrl = baseUrl;
    const admitted = room.admit(conn);
    if (!admitted.ok) {
      conn.close(admitted.closeCode, admitted.reason);
      return;
    }
    conn.attach({
      onMessage: (c, msg) => this.dispatcher.handle(room, c, msg),
      onClose: (c) => room.remove(c),
    });
    conn.sendEvent(MessageType.roomReady, {
      room_name: roomName,
      room_url: roomWsUrl(baseUrl, roomName),
      session_id: room.session?.id,
    });
    conn.sendEvent(MessageType.connected, { type: "init", participantId, attributes: conn.attributes });
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }
}
