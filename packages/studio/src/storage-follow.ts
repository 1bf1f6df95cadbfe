/**
 * How the Storage panel follows the room's files: which storage events concern the folder on
 * screen, and a reload scheduler that turns a burst of events into few listings (a service
 * writing thousands of files, an agent's thread saved every 250 ms while it streams).
 */

/**
 * Whether a change at `path` (room-relative, e.g. "out/a.txt") can change the listing of
 * `folder` ("" for the root), given the names it lists now: a direct child always can (added,
 * resized, removed); something deeper only when it makes a child folder appear (its first
 * segment under `folder` is not listed yet) — its contents are not on screen.
 */
export function touchesFolder(folder: string, path: string, listed: ReadonlySet<string>): boolean {
  const prefix = folder === "" ? "" : `${folder}/`;
  if (path === folder) return true; // the folder itself went away (or came back)
  if (!path.startsWith(prefix)) return false;
  const rest = path.slice(prefix.length);
  const slash = rest.indexOf("/");
  if (slash < 0) return true;
  return !listed.has(rest.slice(0, slash));
}

/** Timers as the scheduler needs them (the browser's, or a test's). */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The lifecycle of one reload scheduler. */
type ReloadState =
  | { kind: "idle" }
  | { kind: "waiting"; timer: unknown }
  | { kind: "loading"; again: boolean }
  | { kind: "closed" };

/**
 * Reloads on demand, bounded: `changed()` schedules a reload `quietMs` later (more changes
 * meanwhile join it); at most one reload runs at a time, and a change during one schedules
 * exactly one more after it. The pause before the next reload is at least as long as the
 * last reload took, so a folder that takes a second to list is listed at most every ~2 s
 * however many events arrive — the page stays responsive.
 */
export class ReloadScheduler {
  private state: ReloadState = { kind: "idle" };
  private lastTookMs = 0;
  private readonly load: () => Promise<void>;
  private readonly timers: Timers;
  private readonly quietMs: number;

  constructor(load: () => Promise<void>, o: { timers: Timers; quietMs: number }) {
    this.load = load;
    this.timers = o.timers;
    this.quietMs = o.quietMs;
  }

  /** Something changed: reload soon. */
  changed(): void {
    const st = this.state;
    if (st.kind === "idle") this.wait();
    else if (st.kind === "loading") st.again = true;
  }

  /** Stops: a pending reload is dropped, one in flight finishes unobserved. */
  close(): void {
    if (this.state.kind === "waiting") this.timers.clearTimeout(this.state.timer);
    this.state = { kind: "closed" };
  }

  private wait(): void {
    const timer = this.timers.setTimeout(() => void this.run(), Math.max(this.quietMs, this.lastTookMs));
    this.state = { kind: "waiting", timer };
  }

  private async run(): Promise<void> {
    if (this.state.kind !== "waiting") return;
    const st: ReloadState = { kind: "loading", again: false };
    this.state = st;
    const t0 = this.timers.now();
    try {
      await this.load();
    } catch {
      // the panel shows its own error; the next change tries again
    }
    this.lastTookMs = this.timers.now() - t0;
    if (this.state !== st) return; // closed meanwhile
    if (st.again) this.wait();
    else this.state = { kind: "idle" };
  }
}
