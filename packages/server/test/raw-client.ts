/**
 * A raw WebSocket client for tests that need to speak (or break) the framing directly,
 * without the SDK: send arbitrary frames, decode what the server sends back, observe the
 * close code and reason, and inspect refused handshakes.
 */
import WebSocket from "ws";
import { FrameDecoder, encodeFrames, packPayload, unpackContent, type Content, type DecodedMessage } from "@roomservice/protocol";

export interface RawClose {
  code: number;
  reason: string;
}

export interface RawClient {
  ws: WebSocket;
  /** Every complete message received, in order. */
  received: DecodedMessage[];
  /** Socket errors seen (ECONNRESET after a server close, ...). */
  errors: Error[];
  /** Frames handed to ws.send so far. */
  framesSent: number;
  /** Resolves when the socket is closed, with the code and reason the server sent. */
  closed: Promise<RawClose>;
  /** Set once `closed` resolved. */
  closeInfo: RawClose | null;
  /** Set when the server's frames could not be decoded (a server bug). */
  decodeError: Error | null;
  /** Sends one binary frame (or a text frame for a string). Never throws. */
  frame(data: Uint8Array | string): void;
  /** Sends a well-framed message; `chunkSize` controls how the data is split. */
  message(id: number, type: string, data: Uint8Array, chunkSize?: number): void;
  /** Sends a request `{header}` payload as a message. */
  request(id: number, type: string, header: unknown, tail?: Uint8Array, chunkSize?: number): void;
  /** The `__response__` to request `id`, unpacked as content. */
  response(id: number, ms?: number): Promise<Content>;
  /** First received message with this type. */
  waitType(type: string, ms?: number): Promise<DecodedMessage>;
  close(): Promise<RawClose>;
}

export interface ConnectOptions {
  /** Where the token goes; defaults to ?token=. */
  via?: "query" | "bearer" | "subprotocol";
  /** Extra subprotocols offered alongside. */
  protocols?: string[];
  /** false: never answer the server's pings (a peer that has silently died). */
  autoPong?: boolean;
}

/** Opens a raw socket to /rooms/{room}; resolves once the socket is open. */
export function connectRaw(wsUrl: string, room: string, token: string, o: ConnectOptions = {}): Promise<RawClient> {
  const via = o.via ?? "query";
  let url = `${wsUrl}/rooms/${encodeURIComponent(room)}`;
  const headers: Record<string, string> = {};
  const protocols = [...(o.protocols ?? [])];
  if (via === "query") url += `?token=${encodeURIComponent(token)}`;
  else if (via === "bearer") headers.authorization = `Bearer ${token}`;
  else protocols.push(`meshagent-room.${token}`);
  const ws = new WebSocket(url, protocols, { headers, perMessageDeflate: false, autoPong: o.autoPong ?? true });
  return new Promise((resolve, reject) => {
    const onOpenError = (err: Error) => reject(err);
    ws.once("error", onOpenError);
    ws.once("unexpected-response", (_req, res) => {
      reject(new Error(`handshake refused: ${res.statusCode} ${res.statusMessage}`));
      res.resume();
    });
    ws.once("open", () => {
      ws.off("error", onOpenError);
      resolve(wrap(ws));
    });
  });
}

function wrap(ws: WebSocket): RawClient {
  const decoder = new FrameDecoder({ maxMessageBytes: 1 << 30, maxTypeLength: 1 << 20 });
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  let resolveClosed!: (c: RawClose) => void;
  const c: RawClient = {
    ws,
    received: [],
    errors: [],
    framesSent: 0,
    closeInfo: null,
    decodeError: null,
    closed: new Promise((r) => (resolveClosed = r)),
    frame(data) {
      c.framesSent++;
      if (ws.readyState !== WebSocket.OPEN) return;
      try {
        ws.send(data, { binary: typeof data !== "string" }, () => undefined);
      } catch (err) {
        c.errors.push(err as Error);
      }
    },
    message(id, type, data, chunkSize = 1024) {
      for (const f of encodeFrames(id, type, data, chunkSize)) c.frame(f);
    },
    request(id, type, header, tail, chunkSize) {
      c.message(id, type, packPayload(header, tail), chunkSize);
    },
    async response(id, ms = 5000) {
      const m = await until(() => c.received.find((x) => x.type === "__response__" && x.id === id), ms, `response to request ${id}`);
      return unpackContent(m.data);
    },
    waitType(type, ms = 5000) {
      return until(() => c.received.find((x) => x.type === type), ms, `a ${type} message`);
    },
    close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
      return c.closed;
    },
  };
  function until<T>(find: () => T | undefined, ms: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = find();
        if (v !== undefined) {
          done();
          resolve(v);
        } else if (c.closeInfo !== null) {
          done();
          reject(new Error(`socket closed (${c.closeInfo.code} ${c.closeInfo.reason}) before ${what} arrived`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  }
  ws.on("message", (data, isBinary) => {
    if (!isBinary) {
      c.decodeError ??= new Error("server sent a text frame");
      return;
    }
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    try {
      const m = decoder.push(buf);
      if (m !== null) c.received.push(m);
    } catch (err) {
      c.decodeError ??= err as Error;
    }
    notify();
  });
  ws.on("error", (err) => c.errors.push(err));
  ws.on("close", (code, reason) => {
    c.closeInfo = { code, reason: reason.toString() };
    resolveClosed(c.closeInfo);
    notify();
  });
  return c;
}

export interface RefusedHandshake {
  statusCode: number;
  statusMessage: string;
  body: string;
}

/**
 * Attempts a handshake that the server is expected to refuse; resolves with the HTTP status,
 * status text and body. Rejects if the socket opens instead.
 */
export function refusedHandshake(url: string, o: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<RefusedHandshake> {
  const ws = new WebSocket(url, o.protocols ?? [], { headers: o.headers ?? {} });
  return new Promise((resolve, reject) => {
    ws.on("error", (err) => reject(err));
    ws.on("open", () => {
      ws.close();
      reject(new Error("handshake unexpectedly succeeded"));
    });
    ws.on("unexpected-response", (_req, res) => {
      const parts: Buffer[] = [];
      const done = () => {
        resolve({ statusCode: res.statusCode ?? 0, statusMessage: res.statusMessage ?? "", body: Buffer.concat(parts).toString("utf8") });
        ws.terminate(); // abandon the handshake; the resulting 'error' goes to the listener above
      };
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", done);
      res.on("error", done);
    });
  });
}
