import type { ServerResponse } from "node:http";
import type { Clock } from "../config.ts";

/** One message in SSE wire form (already serialized), as kept in replay buffers. */
export interface SseMessage {
  id: number;
  event: string;
  /** JSON text of the data. */
  data: string;
}

export function formatSse(m: SseMessage): string {
  return `id: ${m.id}\nevent: ${m.event}\ndata: ${m.data}\n\n`;
}

export type SseState = { kind: "open" } | { kind: "dropped"; reason: string } | { kind: "closed" };

/**
 * One Server-Sent Events client with a bounded buffer. Node queues whatever `write` is given
 * in user space once the socket is full, so a reader that stops reading would grow the
 * server's memory without bound (issue #12 case 7: 204 → 654 MiB in 25 s). Here the bytes
 * queued for the client are checked on every write; past `maxBufferedBytes` the client is
 * dropped: it gets a final `dropped` event when the socket still takes it, and the socket is
 * destroyed after `dropGraceMs` whatever happens, so its buffer is freed.
 */
export class SseClient {
  state: SseState = { kind: "open" };
  private readonly res: ServerResponse;
  private readonly maxBufferedBytes: number;
  private readonly onClose: (c: SseClient) => void;
  private readonly heartbeat: { cancel(): void } | null;
  private readonly clock: Clock;
  /** Largest number of bytes ever queued for this client (tests and diagnostics). */
  peakBufferedBytes = 0;

  constructor(o: { res: ServerResponse; maxBufferedBytes: number; clock: Clock; heartbeatMs: number; onClose: (c: SseClient) => void }) {
    this.res = o.res;
    this.maxBufferedBytes = o.maxBufferedBytes;
    this.onClose = o.onClose;
    this.clock = o.clock;
    o.res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    o.res.flushHeaders();
    o.res.on("close", () => this.closed());
    let hb: { cancel(): void } | null = null;
    const beat = () => {
      if (this.state.kind !== "open") return;
      this.raw(": ping\n\n");
      hb = this.clock.setTimeout(beat, o.heartbeatMs);
    };
    hb = this.clock.setTimeout(beat, o.heartbeatMs);
    this.heartbeat = { cancel: () => hb?.cancel() };
  }

  get open(): boolean {
    return this.state.kind === "open";
  }

  /** Bytes queued in this process for the client right now. */
  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  /** The per-client bound, in bytes queued. */
  get maxBytes(): number {
    return this.maxBufferedBytes;
  }

  /**
   * Resolves once at most `bytes` are queued for the client (at once when that is so already),
   * or it closes. A client that takes nothing for `timeoutMs` is dropped (and this resolves):
   * whoever paces its writes on this never waits on a dead reader for ever. Polls every
   * 25 ms besides listening for `drain`: Node emits `drain` only after a write went past the
   * socket's high-water mark, which a bound below it never reaches.
   */
  async drainedTo(bytes: number, timeoutMs: number): Promise<void> {
    let least = this.res.writableLength;
    let progressAt = this.clock.now();
    while (this.open && this.res.writableLength > bytes) {
      await new Promise<void>((resolve) => {
        const done = () => {
          timer.cancel();
          this.res.off("drain", done);
          this.res.off("close", done);
          resolve();
        };
        const timer = this.clock.setTimeout(done, 25);
        this.res.on("drain", done);
        this.res.on("close", done);
      });
      const now = this.clock.now();
      if (this.res.writableLength < least) {
        least = this.res.writableLength;
        progressAt = now;
      } else if (this.open && now - progressAt >= timeoutMs) this.drop(`the client read nothing for ${timeoutMs} ms`);
    }
  }

  send(m: SseMessage): void {
    this.raw(formatSse(m));
  }

  comment(text: string): void {
    this.raw(`: ${text}\n\n`);
  }

  private raw(text: string): void {
    if (this.state.kind !== "open") return;
    if (this.res.writableLength + Buffer.byteLength(text) > this.maxBufferedBytes) {
      this.drop(`the client did not keep up: more than ${this.maxBufferedBytes} bytes were waiting to be sent; reconnect with Last-Event-ID to resume`);
      return;
    }
    this.res.write(text);
    if (this.res.writableLength > this.peakBufferedBytes) this.peakBufferedBytes = this.res.writableLength;
  }

  /** Ends the stream for a reason the client is told (when it still reads). */
  drop(reason: string): void {
    if (this.state.kind !== "open") return;
    this.state = { kind: "dropped", reason };
    this.heartbeat?.cancel();
    const res = this.res;
    res.end(`event: dropped\ndata: ${JSON.stringify({ reason })}\n\n`);
    // A reader that does not read never lets end() finish: cut the socket so its buffer goes.
    const cut = this.clock.setTimeout(() => res.destroy(), 1000);
    res.on("close", () => cut.cancel());
    this.onClose(this);
  }

  /** Closes normally (server shutdown, session gone). */
  end(): void {
    if (this.state.kind !== "open") return;
    this.state = { kind: "closed" };
    this.heartbeat?.cancel();
    this.res.end();
    this.onClose(this);
  }

  private closed(): void {
    this.heartbeat?.cancel();
    if (this.state.kind === "open") {
      this.state = { kind: "closed" };
      this.onClose(this);
    }
  }
}
