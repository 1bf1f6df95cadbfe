/**
 * Container resource use from the Docker Engine API: `GET /containers/{id}/stats?stream=false
 * &one-shot=true` (API 1.41) returns one reading at once instead of waiting a second for a
 * second one; CPU % comes from our own previous reading (CpuMeter). Memory is computed as the
 * `docker stats` CLI does: usage minus page cache (`total_inactive_file` on cgroup v1,
 * `inactive_file` on v2). When the daemon runs on this host the same numbers are read from the
 * container's cgroup files instead (cgroup-stats.ts): no API call, no dockerd CPU.
 */
import { CpuMeter, type ResourceUsage } from "../stats.ts";
import { DockerError, type DockerEngine } from "./engine.ts";
import { CgroupStatsReader } from "./cgroup-stats.ts";

interface DockerStats {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
}

export class DockerStatsSampler {
  private readonly docker: DockerEngine;
  private readonly meter = new CpuMeter();
  /** Physical memory of the Docker host: a container "limit" equal to it means no limit. */
  private hostMemory: number | null = null;
  private readonly cgroups: CgroupStatsReader;

  /** `cgroups`: where container cgroups are read first (tests pass a fake tree). */
  constructor(docker: DockerEngine, cgroups = new CgroupStatsReader()) {
    this.docker = docker;
    this.cgroups = cgroups;
  }

  /** Forgets the previous reading of `containerId` (no longer sampled). */
  forget(containerId: string): void {
    this.meter.forget(containerId);
  }

  /** Containers with a previous reading kept (tests assert it returns to 0). */
  get tracked(): number {
    return this.meter.size;
  }

  async sample(containerId: string): Promise<ResourceUsage | null> {
    const local = this.cgroups.read(containerId);
    if (local !== null) {
      const cpuPercent = this.meter.percent(containerId, { cpuNs: local.cpuNs, atNs: Date.now() * 1e6 });
      return { cpuPercent, memoryBytes: local.memoryBytes, memoryLimitBytes: local.memoryLimitBytes };
    }
    let s: DockerStats;
    try {
      s = await this.docker.json<DockerStats>({
        method: "GET", path: `/containers/${encodeURIComponent(containerId)}/stats`, query: { stream: false, "one-shot": true },
        signal: AbortSignal.timeout(5000),
      });
    } catch (err) {
      if (err instanceof DockerError && (err.status === 404 || err.status === 409)) {
        this.meter.forget(containerId);
        return null;
      }
      throw err;
    }
    const mem = s.memory_stats ?? {};
    if (mem.usage === undefined) return null; // not running
    const cache = mem.stats?.total_inactive_file ?? mem.stats?.inactive_file ?? 0;
    const usage = Math.max(0, mem.usage - cache);
    if (this.hostMemory === null) {
      const info = await this.docker.json<{ MemTotal?: number }>({ method: "GET", path: "/info" }).catch(() => ({ MemTotal: undefined }));
      this.hostMemory = info.MemTotal ?? 0;
    }
    const limit = mem.limit !== undefined && mem.limit > 0 && (this.hostMemory === 0 || mem.limit < this.hostMemory) ? mem.limit : null;
    const at = s.read !== undefined ? Date.parse(s.read) : Date.now();
    // Docker's `read` has nanosecond digits, Date.parse keeps milliseconds: enough at 2 s intervals.
    const cpuPercent = this.meter.percent(containerId, { cpuNs: s.cpu_stats?.cpu_usage?.total_usage ?? 0, atNs: at * 1e6 });
    return { cpuPercent, memoryBytes: usage, memoryLimitBytes: limit };
  }
}
