/**
 * Resource use of a sandboxed service from /proc: the sandbox runtime puts no cgroup around a
 * service, so its use is the sum over its process tree (bwrap's child — the namespace's init —
 * and every descendant): CPU time from `stat` (utime + stime, in clock ticks), memory as
 * resident set size from `statm`. There is no limit to report (the sandbox enforces none).
 */
import { readFileSync } from "node:fs";
import { CpuMeter, type ResourceUsage } from "../stats.ts";

/** USER_HZ: Linux reports process CPU times in 1/100 s on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;
const PAGE_SIZE = 4096;

/** The sandbox's container ids are `bwrap-<pid of the namespace's init>`. */
export function pidOfSandboxId(containerId: string): number | null {
  const m = /^bwrap-(\d+)$/.exec(containerId);
  return m === null ? null : Number(m[1]);
}

function children(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return out;
  }
  for (const t of tasks) out.push(Number(t));
  return out;
}

/** CPU ticks and resident bytes of a process tree, or null when its root is gone. */
export function readProcessTree(root: number, maxProcesses = 4096): { ticks: number; rssBytes: number } | null {
  let ticks = 0;
  let rss = 0;
  let seen = 0;
  const queue = [root];
  while (queue.length > 0 && seen < maxProcesses) {
    const pid = queue.shift()!;
    let stat: string;
    let statm: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      statm = readFileSync(`/proc/${pid}/statm`, "utf8");
    } catch {
      if (pid === root) return null;
      continue;
    }
    seen++;
    // Fields after the command name (which may contain spaces) start after the last ")".
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    rss += Number(statm.split(" ")[1]) * PAGE_SIZE;
    queue.push(...children(pid));
  }
  return { ticks, rssBytes: rss };
}

export class SandboxStatsSampler {
  private readonly meter = new CpuMeter();

  /** Forgets the previous reading of `containerId` (no longer sampled). */
  forget(containerId: string): void {
    this.meter.forget(containerId);
  }

  /** Containers with a previous reading kept (tests assert it returns to 0). */
  get tracked(): number {
    return this.meter.size;
  }

  async sample(containerId: string): Promise<ResourceUsage | null> {
    const pid = pidOfSandboxId(containerId);
    if (pid === null) return null;
    const t = readProcessTree(pid);
    if (t === null) {
      this.meter.forget(containerId);
      return null;
    }
    const cpuNs = (t.ticks / CLOCK_TICKS_PER_SECOND) * 1e9;
    const cpuPercent = this.meter.percent(containerId, { cpuNs, atNs: Number(process.hrtime.bigint()) });
    return { cpuPercent, memoryBytes: t.rssBytes, memoryLimitBytes: null };
  }
}
