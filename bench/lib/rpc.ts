/**
 * Child side of the runner ↔ child protocol: `serve(handlers, readyInfo)` answers
 * `{id, cmd, arg}` with `{id, ok, value | error}`. A `close` handler runs last and the
 * process then exits (which is when node writes a --cpu-prof profile). When the runner goes
 * away the child exits too, so nothing outlives a run.
 */
import { monitorEventLoopDelay, type ELDHistogram } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";

type Handler = (arg: any) => unknown;

/**
 * Event-loop delay of this process since the previous usage() sample. The monitor is a
 * timer: at 1 ms resolution it costs an idle process ~4% of a core, so it samples every
 * 20 ms (stalls longer than that are what it is for).
 */
let loopDelay: ELDHistogram | null = null;
export function startLoopDelayMonitor(): void {
  loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
}

export function serve(handlers: Record<string, Handler>, readyInfo: Record<string, unknown> = {}): void {
  if (process.send === undefined) throw new Error("this file is a benchmark child; start it through bench/run.ts");
  const send = (m: unknown) => new Promise<void>((resolve) => process.send!(m, undefined, {}, () => resolve()));
  // The runner went away (crashed, or its watchdog fired): run `close` first, bounded, so a
  // child holding a runtime removes its namespaces and containers instead of leaking them.
  process.on("disconnect", () => {
    setTimeout(() => process.exit(0), 15_000).unref();
    void Promise.resolve()
      .then(() => handlers.close?.(null))
      .catch(() => undefined)
      .finally(() => process.exit(0));
  });
  // See run.ts: an SDK quirk on dispose, reported rather than fatal.
  process.on("unhandledRejection", (err) => console.error("unhandled rejection:", err));
  if (loopDelay === null) startLoopDelayMonitor();
  process.on("message", async (m: { id: number; cmd: string; arg: unknown }) => {
    if (m.cmd === "close") {
      try {
        await handlers.close?.(m.arg);
      } catch {
        // exiting anyway
      }
      await send({ id: m.id, ok: true, value: null }).catch(() => undefined);
      process.exit(0);
    }
    const h = handlers[m.cmd];
    if (h === undefined) {
      await send({ id: m.id, ok: false, error: `unknown command ${m.cmd}` });
      return;
    }
    try {
      const value = await h(m.arg);
      await send({ id: m.id, ok: true, value: value ?? null });
    } catch (err) {
      await send({ id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  void send({ ready: readyInfo });
}

export interface Usage {
  cpuUserUs: number;
  cpuSystemUs: number;
  mem: NodeJS.MemoryUsage;
  /** performance.now() of the child when sampled (ms). */
  at: number;
  /** Event-loop delay since the previous sample, in ms (null when not monitored). */
  loopDelayMs: { p50: number; p99: number; max: number } | null;
  /**
   * Bytes used per V8 heap space (v8.getHeapSpaceStatistics: old_space, code_space,
   * trusted_space, …): tells V8's compiled code and bytecode (code and trusted spaces) from
   * the program's objects (old space).
   */
  spaces: Record<string, number>;
}

/**
 * CPU time and memory of this process. With `gc`, full collections run first (three, with
 * a turn of the event loop between them so finalizers and weak callbacks settle), so heap
 * figures count live objects only.
 */
export async function usage(gc: boolean): Promise<Usage> {
  if (gc) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g === undefined) throw new Error("start this child with --expose-gc to measure memory after GC");
    for (let i = 0; i < 3; i++) {
      g();
      await new Promise((r) => setImmediate(r));
    }
  }
  const cpu = process.cpuUsage();
  let loopDelayMs: Usage["loopDelayMs"] = null;
  if (loopDelay !== null) {
    loopDelayMs = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    loopDelay.reset();
  }
  const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, x.space_used_size]));
  return { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, mem: process.memoryUsage(), at: performance.now(), loopDelayMs, spaces };
}
