import type { Logger } from "pino";
import type { Clock } from "../config.ts";
import type { ResourceUsage, Runtime, ServiceHandle } from "./runtime-port.ts";

/** Stats samples kept per service and session: every sample for the first hour at 2 s... */
export const STATS_KEEP_ALL = 1800;
/** ...then one in 15 (every 30 s), up to this many in all. Live streams get every sample. */
export const STATS_KEEP_MAX = 5000;
const STATS_THIN_EVERY = 15;
/**
 * A service still `starting` is sampled only once it has been starting this long (ms): a room
 * start is CPU-bound on small machines, and its first seconds need no chart — but a service
 * stuck starting (a probe that never passes) still gets its CPU and memory shown.
 */
export const STATS_STARTING_GRACE_MS = 10_000;

interface Target {
  handle: ServiceHandle | null;
  record: { id: string };
}

/**
 * Samples CPU and memory of a session's running services every `intervalMs` through the
 * runtime's `stats()` (cgroup files or the Docker stats API, or /proc for the sandbox). One
 * round at a time: a slow Docker never stacks up requests. Says for each sample whether to
 * keep it (bounded). Services that are only just starting are skipped (STATS_STARTING_GRACE_MS).
 * The runtime keeps a previous CPU reading per container sampled; the poller tells it to
 * forget a container once it stops sampling it (a restart's new container replaced it, or
 * the poller stopped), so nothing per container outlives its session.
 */
export class StatsPoller<T extends Target = Target> {
  private readonly o: {
    clock: Clock; intervalMs: number; runtime: Runtime; log: Logger;
    targets: () => Iterable<T>;
    /** `n`: the sample's number for this target (1, 2, 3…, every sample, kept or not): a client that sees a jump knows it missed some. */
    sample: (t: T, u: ResourceUsage, store: boolean, n: number) => void;
  };
  private timer: { cancel(): void } | null = null;
  private state: "idle" | "running" | "stopped" = "idle";
  private readonly counts = new Map<string, number>();
  /** The container last sampled per target (record id), to forget when it changes or at stop. */
  private readonly sampled = new Map<string, string>();
  private warned = false;

  constructor(o: StatsPoller<T>["o"]) {
    this.o = o;
  }

  start(): void {
    if (this.state !== "idle") return;
    this.state = "running";
    this.schedule();
  }

  stop(): void {
    this.state = "stopped";
    this.timer?.cancel();
    this.timer = null;
    for (const id of this.sampled.values()) this.forget(id);
    this.sampled.clear();
  }

  private forget(containerId: string): void {
    this.o.runtime.forgetStats?.call(this.o.runtime, containerId);
  }

  private schedule(): void {
    if (this.state !== "running") return;
    this.timer = this.o.clock.setTimeout(() => void this.round().finally(() => this.schedule()), this.o.intervalMs);
  }

  private async round(): Promise<void> {
    const stats = this.o.runtime.stats;
    if (stats === undefined) return;
    const work: Promise<void>[] = [];
    for (const t of this.o.targets()) {
      const st = t.handle?.status();
      if (st === undefined || st.container_id === null || !(st.state === "running" || st.state === "unhealthy" || st.state === "starting")) continue;
      if (st.state === "starting" && (st.started_at === null || this.o.clock.now() - st.started_at < STATS_STARTING_GRACE_MS)) continue;
      const containerId = st.container_id;
      const before = this.sampled.get(t.record.id);
      if (before !== containerId) {
        if (before !== undefined) this.forget(before);
        this.sampled.set(t.record.id, containerId);
      }
      work.push(
        stats.call(this.o.runtime, containerId).then(
          (u) => {
            // Stopped while this sample was under way: stop() has already forgotten the
            // container, and this reading put it back.
            if (this.state !== "running") return this.forget(containerId);
            if (u === null) return;
            const n = (this.counts.get(t.record.id) ?? 0) + 1;
            this.counts.set(t.record.id, n);
            const store = n <= STATS_KEEP_ALL || (n % STATS_THIN_EVERY === 0 && STATS_KEEP_ALL + (n - STATS_KEEP_ALL) / STATS_THIN_EVERY <= STATS_KEEP_MAX);
            this.o.sample(t, u, store, n);
          },
          (err: unknown) => {
            if (!this.warned) this.o.log.warn({ err }, "could not read service stats (further failures are not logged)");
            this.warned = true;
          },
        ),
      );
    }
    await Promise.all(work);
  }
}
