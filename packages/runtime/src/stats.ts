/**
 * Resource use of one running service, as Studio's diagnostics chart it. Both runtimes sample
 * the same way: cumulative CPU time read twice, divided by the wall time between the reads.
 */
export interface ResourceUsage {
  /** CPU use since the previous sample, in percent of one core (100 = one full core). */
  cpuPercent: number;
  /** Memory in use now (resident; page cache excluded, as `docker stats` shows it). */
  memoryBytes: number;
  /** The container's memory limit, or null when it has none (the host's memory is not a limit). */
  memoryLimitBytes: number | null;
}

/** A cumulative CPU reading: CPU time used (ns) at a wall-clock instant (ns). */
export interface CpuReading {
  cpuNs: number;
  atNs: number;
}

/**
 * Keeps the previous CPU reading per container so each sample covers the time since the last
 * one. The first sample of a container reports 0 % (nothing to compare with yet).
 */
const MAX_TRACKED = 4096;

export class CpuMeter {
  private readonly last = new Map<string, CpuReading>();

  percent(id: string, r: CpuReading): number {
    const prev = this.last.get(id);
    this.last.delete(id);
    this.last.set(id, r);
    // Bounded even when nobody calls forget(): containers that ended are the oldest entries.
    if (this.last.size > MAX_TRACKED) this.last.delete(this.last.keys().next().value!);
    if (prev === undefined || r.atNs <= prev.atNs || r.cpuNs < prev.cpuNs) return 0;
    return ((r.cpuNs - prev.cpuNs) / (r.atNs - prev.atNs)) * 100;
  }

  forget(id: string): void {
    this.last.delete(id);
  }

  get size(): number {
    return this.last.size;
  }
}
