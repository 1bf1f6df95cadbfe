import type { SseClient, SseMessage } from "../http/sse.ts";
import type { ActivityLogLine, Participant } from "@roomservice/protocol";

/** Bounds of what one room keeps in memory for its live streams. */
export interface FeedLimits {
  /** Recent stream messages kept for `Last-Event-ID` resume. */
  resumeMessages: number;
  resumeBytes: number;
  /** Recent log lines of the current session, replayed to every new stream client. */
  tailLines: number;
  tailBytes: number;
}

/** Per live room (whether anyone watches or not): at most 2 MiB, so many chatty rooms stay affordable. */
export const DEFAULT_FEED_LIMITS: FeedLimits = { resumeMessages: 1000, resumeBytes: 1024 * 1024, tailLines: 1000, tailBytes: 1024 * 1024 };

/** A subscriber: an SSE client plus an optional filter (the per-service log stream). */
export interface FeedSubscriber {
  client: SseClient;
  accepts(m: SseMessage, serviceId: string | undefined): boolean;
}

/** A bounded FIFO by count and bytes; `onEvict` hears of every item that leaves unread. */
class Ring<T> {
  items: T[] = [];
  private bytes = 0;
  private readonly size: (t: T) => number;
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private readonly onEvict: (t: T) => void;
  constructor(maxItems: number, maxBytes: number, size: (t: T) => number, onEvict: (t: T) => void = () => undefined) {
    this.maxItems = maxItems;
    this.maxBytes = maxBytes;
    this.size = size;
    this.onEvict = onEvict;
  }
  push(t: T): void {
    this.items.push(t);
    this.bytes += this.size(t);
    let drop = 0;
    while ((this.items.length - drop > this.maxItems || this.bytes > this.maxBytes) && drop < this.items.length) {
      const gone = this.items[drop++]!;
      this.bytes -= this.size(gone);
      this.onEvict(gone);
    }
    if (drop > 0) this.items.splice(0, drop);
  }
  clear(): void {
    for (const t of this.items) this.onEvict(t);
    this.items = [];
    this.bytes = 0;
  }
}

/**
 * One room's live fan-out: the SSE clients watching it, the recent messages for resume, the
 * current session's log tail, and who is in the session. It follows one session at a time
 * (`sessionId`: the live one, or the last one while it shuts down); output of any other
 * session is not sent (issue #12 case 24). Everything here is released when the session's
 * services have stopped and nobody watches (`idle`).
 */
export class RoomFeed {
  readonly room: string;
  sessionId: string | null = null;
  live = false;
  startedAt = 0;
  readonly participants = new Map<string, Participant>();
  readonly subscribers = new Set<FeedSubscriber>();
  private readonly resume: Ring<SseMessage & { serviceId: string | undefined }>;
  /**
   * The highest id of a message no longer kept for resume (-1: none). A client resuming
   * after an id below it missed messages the feed cannot replay (their log lines are on disk:
   * Activity catches the client up from there).
   */
  evictedThrough = -1;
  private readonly tail: Ring<{ line: ActivityLogLine; message: SseMessage }>;

  constructor(room: string, limits: FeedLimits) {
    this.room = room;
    this.resume = new Ring(limits.resumeMessages, limits.resumeBytes, (m) => m.data.length + 64, (m) => {
      if (m.id > this.evictedThrough) this.evictedThrough = m.id;
    });
    this.tail = new Ring(limits.tailLines, limits.tailBytes, (t) => t.message.data.length + 64);
  }

  get idle(): boolean {
    return !this.live && this.subscribers.size === 0;
  }

  /** Sends to every subscriber that accepts it and keeps it for resume. */
  publish(m: SseMessage, serviceId?: string, line?: ActivityLogLine): void {
    this.resume.push({ ...m, serviceId });
    if (line !== undefined) this.tail.push({ line, message: m });
    for (const s of [...this.subscribers]) if (s.client.open && s.accepts(m, serviceId)) s.client.send(m);
  }

  /** Bytes (as the replay bound counts them) of the messages kept after `lastId` that `accepts` lets through. */
  bytesAfter(lastId: number, accepts: FeedSubscriber["accepts"]): number {
    let bytes = 0;
    for (const m of this.resume.items) if (m.id > lastId && accepts(m, m.serviceId)) bytes += m.data.length + 64;
    return bytes;
  }

  /** Whether every message after `lastId` is still kept for resume. */
  keepsAllAfter(lastId: number): boolean {
    return this.evictedThrough <= lastId;
  }

  /**
   * Messages after `lastId` still kept (resume), or the log tail (fresh connect): the newest
   * of them that fit in `maxBytes`, so a replay never overflows the client's own buffer bound.
   */
  replay(lastId: number | null, accepts: FeedSubscriber["accepts"], maxBytes: number): SseMessage[] {
    const all = lastId !== null
      ? this.resume.items.filter((m) => m.id > lastId && accepts(m, m.serviceId))
      : this.tail.items.filter((t) => accepts(t.message, t.line.service_id)).map((t) => t.message);
    let bytes = 0;
    let from = all.length;
    while (from > 0 && bytes + all[from - 1]!.data.length + 64 <= maxBytes) bytes += all[--from]!.data.length + 64;
    return all.slice(from).map((m) => ({ id: m.id, event: m.event, data: m.data }));
  }

  /** A new session starts: the previous one's lines are no longer replayed (they are kept on disk). */
  startSession(sessionId: string, at: number): void {
    this.sessionId = sessionId;
    this.live = true;
    this.startedAt = at;
    this.participants.clear();
    this.tail.clear();
  }

  /** The session's services have stopped: forget its buffers. */
  releaseSession(): void {
    this.resume.clear();
    this.tail.clear();
    this.participants.clear();
  }

  /** Memory held, for the leak test. */
  get heldItems(): number {
    return this.resume.items.length + this.tail.items.length + this.participants.size + this.subscribers.size;
  }
}
