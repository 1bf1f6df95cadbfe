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
  private lastSeq = -1;
  private listeners = new Set<() => void>();
  private scheduled = false;

  constructor(max = 200_000) {
    this.max = max;
  }

  push(line: LogLine): void {
    if (line.seq <= this.lastSeq) return;
    this.lastSeq = line.seq;
    this.lines.push(line);
    if (this.lines.length > this.max) {
      const cut = Math.ceil(this.max / 10);
      this.lines = this.lines.slice(cut);
      this.dropped += cut;
    }
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
    if (typeof requestAnimationFrame === "function" && document.visibilityState === "visible") requestAnimationFrame(run);
    else setTimeout(run, 50);
  }
}
