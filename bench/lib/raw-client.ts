/**
 * A minimal Roomservice participant speaking the wire protocol over a plain `ws` socket
 * (MeshAgent framing + payloads, via @roomservice/protocol). It does what the SDK does on
 * the wire and nothing else, so a run with it shows what the server costs without the
 * SDK's client-side work.
 */
import { WebSocket } from "ws";
import { encodeFrames, FrameDecoder, packPayload, unpackPayload, MessageType } from "@roomservice/protocol";

export type RawEvent = (type: string, header: Record<string, unknown>, tail: Buffer) => void;

export class RawRoomClient {
  readonly ws: WebSocket;
  participantId = "";
  private nextId = 0;
  private readonly decoder = new FrameDecoder();
  private readonly listeners: RawEvent[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data) => {
      const msg = this.decoder.push(data as Buffer);
      if (msg === null) return;
      const { header, tail } = unpackPayload(msg.data);
      for (const l of this.listeners) l(msg.type, header, tail);
    });
  }

  /** Opens `/rooms/<room>?token=` and resolves once the server sent `connected`. */
  static connect(httpUrl: string, room: string, token: string, timeoutMs = 30_000): Promise<RawRoomClient> {
    const ws = new WebSocket(`${httpUrl.replace(/^http/, "ws")}/rooms/${encodeURIComponent(room)}?token=${token}`, { perMessageDeflate: false });
    const c = new RawRoomClient(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`raw client for room ${room} not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      c.on((type, header) => {
        if (type === MessageType.connected) {
          clearTimeout(timer);
          c.participantId = String(header.participantId ?? "");
          resolve(c);
        }
      });
      ws.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.once("unexpected-response", (_req, res) => {
        clearTimeout(timer);
        reject(new Error(`handshake refused: ${res.statusCode} ${res.statusMessage}`));
      });
    });
  }

  on(l: RawEvent): void {
    this.listeners.push(l);
  }

  send(type: string, header: unknown, tail?: Uint8Array): number {
    const id = this.nextId++;
    for (const f of encodeFrames(id, type, packPayload(header, tail))) this.ws.send(f);
    return id;
  }

  /** `room.invoke_tool` with JSON arguments; the response is not awaited. */
  invoke(toolkit: string, tool: string, args: Record<string, unknown>): number {
    return this.send(MessageType.invokeTool, { toolkit, tool, arguments: { type: "json", json: args } });
  }

  close(): void {
    this.ws.close(1000);
  }
}
