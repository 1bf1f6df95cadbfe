import type { WebSocket } from "ws";
import type { Logger } from "pino";
import {
  FrameDecoder, FrameError, CloseCode, encodeFrames, packPayload, packContent, unpackPayload,
  contentFromWire, contentToWire, PayloadError, MessageType, errorContent, type Content, type DecodedMessage,
} from "@roomservice/protocol";
import type { Principal } from "../auth/tokens.ts";
import type { Limits, Clock } from "../config.ts";

/** A streamed tool call: request chunks in, response chunks out. */
export class StreamCall {
  readonly toolCallId: string;
  private readonly conn: Connection;
  private readonly queue: Content[] = [];
  private waiter: ((c: Content | null) => void) | null = null;
  private ended = false;
  closed = false;
  onAbort: (() => void) | null = null;

  constructor(conn: Connection, toolCallId: string) {
    this.conn = conn;
    this.toolCallId = toolCallId;
  }

  /** Request chunk from the caller; a control close ends the input. */
  pushInput(c: Content): void {
    if (this.ended) return;
    if (c.type === "control" && c.method === "close") {
      this.endInput();
      return;
    }
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w(c);
    } else this.queue.push(c);
  }

  endInput(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w(null);
    }
  }

  /** Next input chunk, or null once the caller closed its side. */
  next(): Promise<Content | null> {
    const c = this.queue.shift();
    if (c !== undefined) return Promise.resolve(c);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  send(c: Content): void {
    if (this.closed) return;
    const { header, tail } = contentToWire(c);
    this.conn.sendEvent(MessageType.toolCallResponseChunk, { tool_call_id: this.toolCallId, chunk: header }, tail);
  }

  /** Ends the response stream with a control close (the SDK's end-of-stream marker). */
  close(): void {
    if (this.closed) return;
    this.send({ type: "control", method: "close", statusCode: 1000 });
    this.closed = true;
    this.endInput();
    this.conn.streams.delete(this.toolCallId);
  }

  fail(text: string, code?: number): void {
    if (this.closed) return;
    this.send(errorContent(text, code));
    this.close();
  }

  abort(): void {
    this.closed = true;
    this.endInput();
    this.onAbort?.();
  }
}

export interface ConnectionHandlers {
  onMessage(conn: Connection, msg: DecodedMessage): void | Promise<void>;
  onClose(conn: Connection, code: number, reason: string): void;
}

/**
 * One participant's socket: framing, ids, rate limit, backpressure and the response helpers.
 * What a message means is decided by the room's dispatcher, not here.
 */
export class Connection {
  readonly participantId: string;
  readonly principal: Principal;
  readonly log: Logger;
  readonly attributes: Record<string, unknown>;
  readonly streams = new Map<string, StreamCall>();
  /** Unary calls this connection has in flight (for the pending-call limit). */
  pendingCalls = 0;
  messagingEnabled = false;
  /** http(s)://host:port the client reached us on, for URLs handed back (download_url). */
  httpBaseUrl = "";
  closed = false;
  private nextId = 0;
  private readonly ws: WebSocket;
  private readonly decoder: FrameDecoder;
  private readonly limits: Limits;
  private readonly clock: Clock;
  private tokens: number;
  private lastRefill: number;
  private handlers: ConnectionHandlers | null = null;
  /** Clock time of the last frame or pong from the peer. */
  private lastHeardAt: number;
  /** Set while a ping is unanswered: when it was sent. */
  private pingSentAt: number | null = null;
  private keepaliveTimer: { cancel(): void } | null = null;
  /** Set while a missed pong's verdict waits one event-loop turn (see keepaliveCheck). */
  private verdictDeferred = false;

  constructor(args: { ws: WebSocket; participantId: string; principal: Principal; limits: Limits; clock: Clock; log: Logger }) {
    this.ws = args.ws;
    this.participantId = args.participantId;
    this.principal = args.principal;
    this.limits = args.limits;
    this.clock = args.clock;
    this.log = args.log;
    this.attributes = { name: args.principal.identity };
    this.decoder = new FrameDecoder({ maxMessageBytes: args.limits.maxMessageBytes, maxTypeLength: args.limits.maxTypeLength });
    this.tokens = args.limits.messageBurst;
    this.lastRefill = args.clock.now();
    this.lastHeardAt = args.clock.now();
    this.ws.on("message", (data, isBinary) => {
      this.lastHeardAt = this.clock.now();
      this.onFrame(data as Buffer | Buffer[] | ArrayBuffer, isBinary);
    });
    this.ws.on("pong", () => (this.lastHeardAt = this.clock.now()));
    this.armKeepalive(args.limits.idlePingMs);
    this.ws.on("close", (code, reason) => this.onSocketClose(code, reason.toString()));
    this.ws.on("error", (err) => this.log.debug({ err }, "socket error"));
  }

  /** When the peer was last heard from (any frame or pong), on the injected clock. */
  get lastHeard(): number {
    return this.lastHeardAt;
  }

  private armKeepalive(ms: number): void {
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = this.clock.setTimeout(() => this.keepaliveCheck(), Math.max(1, ms));
  }

  /**
   * Pings a connection idle for `idlePingMs` and drops it when the ping is not answered within
   * `pingTimeoutMs` (Limits). Only idle connections are pinged: traffic proves liveness.
   */
  private keepaliveCheck(): void {
    if (this.closed) return;
    const now = this.clock.now();
    if (this.pingSentAt !== null && this.lastHeardAt < this.pingSentAt) {
      // Judge only after one more turn of the event loop: timers run before sockets are read,
      // so after a stall of the server's own loop (a burst of room starts on a loaded machine)
      // the pong may be waiting unread in the socket — dropping then blamed the peer for our
      // stall (close 1006 of SDK participants, docs/benchmarks.md figure 7). A 0 ms timer runs
      // after the loop's next poll for I/O.
      if (!this.verdictDeferred) {
        this.verdictDeferred = true;
        this.keepaliveTimer = this.clock.setTimeout(() => this.keepaliveCheck(), 0);
        return;
      }
      const reason = `no answer to a ping within ${this.limits.pingTimeoutMs / 1000} s; connection presumed dead`;
      this.log.info({ silentMs: now - this.lastHeardAt }, reason);
      this.closed = true;
      this.ws.terminate();
      this.onSocketClose(1006, reason); // 1006: closed without a close frame (RFC 6455 §7.1.5)
      return;
    }
    this.pingSentAt = null;
    this.verdictDeferred = false;
    const idle = now - this.lastHeardAt;
    if (idle < this.limits.idlePingMs) {
      this.armKeepalive(this.limits.idlePingMs - idle);
      return;
    }
    this.pingSentAt = now;
    try {
      this.ws.ping();
    } catch {
      // socket already closing: its close event ends the connection
    }
    this.armKeepalive(this.limits.pingTimeoutMs);
  }

  /** Service connections never keep a room's session alive. */
  get keepsRoomAlive(): boolean {
    return this.principal.service === undefined;
  }

  get identity(): string {
    return this.principal.identity;
  }

  attach(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
  }

  private onFrame(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) {
      this.close(CloseCode.protocolError, "text frames are not part of the protocol; send binary frames");
      return;
    }
    const frame = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    let msg: DecodedMessage | null;
    try {
      msg = this.decoder.push(frame);
    } catch (err) {
      if (err instanceof FrameError) {
        this.log.info({ reason: err.message }, "closing connection: framing error");
        this.close(err.closeCode, err.message);
        return;
      }
      throw err;
    }
    if (msg === null) return;
    if (!this.takeToken()) {
      this.close(CloseCode.policyViolation, `rate limit exceeded: more than ${this.limits.maxMessagesPerSecond} messages per second`);
      return;
    }
    const handlers = this.handlers;
    if (handlers === null) return;
    try {
      const r = handlers.onMessage(this, msg);
      if (r instanceof Promise) r.catch((err) => this.internalError(msg!, err));
    } catch (err) {
      this.internalError(msg, err);
    }
  }

  private internalError(msg: DecodedMessage, err: unknown): void {
    this.log.error({ err, type: msg.type }, "unhandled error while handling a message");
    this.respond(msg.id, errorContent(`internal error handling ${msg.type}`));
  }

  private takeToken(): boolean {
    const now = this.clock.now();
    const elapsed = (now - this.lastRefill) / 1000;
    if (elapsed > 0) {
      this.tokens = Math.min(this.limits.messageBurst, this.tokens + elapsed * this.limits.maxMessagesPerSecond);
      this.lastRefill = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private onSocketClose(code: number, reason: string): void {
    this.closed = true;
    this.keepaliveTimer?.cancel();
    this.keepaliveTimer = null;
    for (const s of this.streams.values()) s.abort();
    this.streams.clear();
    const h = this.handlers;
    this.handlers = null;
    h?.onClose(this, code, reason);
  }

  /**
   * Sends raw message bytes with a given id (used for responses and forwarded content).
   * A message is at least two WebSocket frames; the TCP socket is corked until the end of
   * the tick so that they (and anything else sent this tick) leave in one write syscall
   * instead of one each — the syscalls were the server's largest cost under broadcast load.
   */
  sendRaw(id: number, type: string, data: Uint8Array): void {
    if (this.closed) return;
    if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.close(CloseCode.policyViolation, "client is not reading fast enough (outbound buffer limit reached)");
      return;
    }
    this.corkForTick();
    for (const frame of encodeFrames(id, type, data)) this.ws.send(frame, { binary: true });
  }

  private corked = false;

  private corkForTick(): void {
    if (this.corked) return;
    // `ws` keeps the net.Socket private; cork it when it is there, else send uncorked.
    const sock = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (sock === undefined) return;
    this.corked = true;
    sock.cork();
    process.nextTick(() => {
      this.corked = false;
      sock.uncork();
    });
  }

  /** Server-initiated message (event or request to a toolkit host); returns its id. */
  sendEvent(type: string, header: unknown, tail?: Uint8Array): number {
    return this.sendPacked(type, packPayload(header, tail));
  }

  /** Like sendEvent with an already packed payload (a broadcast packs once for everyone). */
  sendPacked(type: string, payload: Uint8Array): number {
    const id = this.nextId++;
    this.sendRaw(id, type, payload);
    return id;
  }

  respond(requestId: number, content: Content): void {
    this.sendRaw(requestId, MessageType.response, packContent(content));
  }

  respondRaw(requestId: number, packedContent: Uint8Array): void {
    this.sendRaw(requestId, MessageType.response, packedContent);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // Close reasons are limited to 123 bytes by RFC 6455.
    const r = Buffer.from(reason, "utf8").subarray(0, 123).toString("utf8");
    try {
      this.ws.close(code, r);
    } catch {
      this.ws.terminate();
    }
    // Do not wait for the peer's close frame to release room resources.
    this.onSocketClose(code, r);
  }
}

/** Parses a request payload, or returns the reason it is malformed. */
export function parseRequest(data: Buffer): { header: Record<string, unknown>; tail: Buffer } | { error: string } {
  try {
    return unpackPayload(data);
  } catch (err) {
    if (err instanceof PayloadError) return { error: err.message };
    throw err;
  }
}

export function parseContentArg(value: unknown, tail: Buffer): Content | { error: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { type: "empty" };
  try {
    return contentFromWire(value as Record<string, unknown>, tail);
  } catch (err) {
    if (err instanceof PayloadError) return { error: err.message };
    throw err;
  }
}
