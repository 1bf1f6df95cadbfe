/**
 * Outside load. The benchmark machine may be shared; a burst of someone else's CPU use
 * during a measurement window shows up as latency that is not ours. This reads /proc to
 * tell how much CPU the machine spent on processes other than the benchmark's own during a
 * window ("foreign" load) and how much the hypervisor took (steal), so disturbed windows can
 * be flagged and retried. Kernel threads (disk writeback after an fsync, for instance) do
 * work on our behalf and are not counted as outside load. On systems without /proc it
 * reports nothing.
 */
import { readFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";

const TICK_MS = 10; // USER_HZ is 100 on Linux

interface Snapshot {
  at: number;
  busyTicks: number;
  stealTicks: number;
  ours: Map<number, number>;
}

function machineTicks(): { busy: number; steal: number } | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice
    return { busy: f[0]! + f[1]! + f[2]! + f[5]! + f[6]!, steal: f[7] ?? 0 };
  } catch {
    return null;
  }
}

function statFields(pid: number): string[] | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

function processTicks(pid: number): number | null {
  const f = statFields(pid);
  return f === null ? null : Number(f[11]) + Number(f[12]); // utime + stime, all threads
}

/** Kernel threads: kthreadd (pid 2) and its children. */
function kernelThreads(): number[] {
  const out: number[] = [];
  try {
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      const f = statFields(pid);
      if (pid === 2 || (f !== null && f[1] === "2")) out.push(pid);
    }
  } catch {
    // no /proc
  }
  return out;
}

export interface OutsideLoad {
  /** CPU used by processes other than ours, in cores (1.0 = one core busy). */
  foreignCores: number;
  /** CPU the hypervisor took from this VM, in cores. */
  stealCores: number;
  loadavg1: number;
}

export class OutsideLoadMeter {
  private snap: Snapshot | null = null;
  private readonly pids: number[];

  /** `pids`: the benchmark's own processes (the runner and kernel threads are always included). */
  constructor(pids: (number | undefined)[]) {
    this.pids = [process.pid, ...pids.filter((p): p is number => p !== undefined)];
  }

  start(): void {
    const m = machineTicks();
    if (m === null) return;
    const ours = new Map<number, number>();
    for (const p of [...this.pids, ...kernelThreads()]) ours.set(p, processTicks(p) ?? 0);
    this.snap = { at: performance.now(), busyTicks: m.busy, stealTicks: m.steal, ours };
  }

  stop(): OutsideLoad | null {
    const s = this.snap;
    const m = machineTicks();
    if (s === null || m === null) return null;
    const ms = performance.now() - s.at;
    let ours = 0;
    for (const [p, t0] of s.ours) ours += (processTicks(p) ?? t0) - t0;
    const foreign = Math.max(0, m.busy - s.busyTicks - ours);
    return {
      foreignCores: Math.round(((foreign * TICK_MS) / ms) * 1000) / 1000,
      stealCores: Math.round((((m.steal - s.stealTicks) * TICK_MS) / ms) * 1000) / 1000,
      loadavg1: loadavg()[0]!,
    };
  }
}

/** A window counts as disturbed when others took more than this many cores on average. */
export const DISTURBED_CORES = 0.1;
export const disturbed = (o: OutsideLoad | null) => o !== null && o.foreignCores + o.stealCores > DISTURBED_CORES;
