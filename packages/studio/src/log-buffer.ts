import type { LogLine } from "./types.ts";

/**
 * An append-only, bounded store of log lines shared by the stream and the viewer. Lines are
 * kept in arrival order (server `seq` order); a line whose seq was already seen (a replay
 * after reconnect) is dropped. When more than `max` lines are held the oldest tenth goes,
 * so memory stays bounded while 100,000 lines scroll smoothly.
 */
export class LogBuffer {
  readonly max: number;
  lines: LogLine[] = [];
  /** Bumped on every change; viewers re-filter from `dropped` + length. */
  version = 0;
  /** How many lines were evicted from the front since creation. */
  dropped = 0;
  /**
   * Lines the stream never delivered (it fell behind further than the server could make up),
   * counted from the jumps in each service's `line_no`; `gaps` says how many were missing
   * right before a line (by its seq), for a marker in the view.
   */
  skipped = 0;
  readonly gaps = new Map<number, number>();
  /**
   * The last seq seen per session: seqs increase within a session, but a new session may start
   * lower (its room moved to a node whose counter is behind, a clock stepped back across a
   * restart), and its lines must not be taken for replays.
   */
  private lastSeq = new Map<string, number>();
  /** The last `line_no` seen per session and service. */
  private lastLineNo = new Map<string, number>();
  private listeners = new Set<() => void>();
  private scheduled = false;

  constructor(max = 200_000) {
    this.max = max;
  }

  push(line: LogLine): void {
    if (line.seq <= (this.lastSeq.get(line.session_id) ?? -1)) return;
    this.lastSeq.set(line.session_id, line.seq);
    if (line.line_no !== undefined) {
      const key = `${line.session_id}\u0000${line.service_id}`;
      const last = this.lastLineNo.get(key);
      if (last !== undefined && line.line_no > last + 1) {
        this.skipped += line.line_no - last - 1;
        this.gaps.set(line.seq, line.line_no - last - 1);
      }
      this.lastLineNo.set(key, line.line_no);
    }
    this.lines.push(line);
    if (this.lines.length > this.max) {
      const cut = Math.ceil(this.max / 10);
      this.lines = this.lines.slice(cut);
      this.dropped += cut;
      const first = this.lines[0]!.seq;
      for (const seq of this.gaps.keys()) if (seq < first) this.gaps.delete(seq);
    }
    this.version++;
    this.notify();
  }

  /**
   * The room's live session is now `sessionId`: lines of earlier sessions are let go (the
   * live page shows the current session; older ones are on their session pages). They are
   * evicted from the front like the oldest lines, which keeps the viewer's indices valid.
   */
  startSession(sessionId: string): void {
    let cut = 0;
    while (cut < this.lines.length && this.lines[cut]!.session_id !== sessionId) cut++;
    if (cut === 0) return;
    this.lines = this.lines.slice(cut);
    this.dropped += cut;
    this.gaps.clear();
    this.skipped = 0;
    for (const key of this.lastLineNo.keys()) if (!key.startsWith(`${sessionId}\u0000`)) this.lastLineNo.delete(key);
    for (const key of this.lastSeq.keys()) if (key !== sessionId) this.lastSeq.delete(key);
    this.version++;
    this.notify();
  }

  pushAll(lines: LogLine[]): void {
    for (const l of lines) this.push(l);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Listeners run at most once per animation frame, however fast lines arrive. */
  private notify(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      for (const fn of this.listeners) fn();
    };
    // Through globalThis: the unit tests run this file in Node, where neither exists.
    const g = globalThis as { requestAnimationFrame?: (fn: () => void) => number; document?: { visibilityState: string } };
    if (g.requestAnimationFrame !== undefined && g.document?.visibilityState === "visible") g.requestAnimationFrame(run);
    else setTimeout(run, 50);
  }
}
