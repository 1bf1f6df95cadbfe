/**
 * A running container's CPU and memory read straight from its cgroup files, when the Docker
 * daemon runs on this host: a few small reads instead of an Engine API stats call (which
 * costs dockerd a cgroup walk, JSON encoding and a connection every 2 s per service, CPU
 * taken from the services on a small machine — docs/benchmarks.md, issue #10).
 *
 * Layouts, as Docker creates them (the container's full 64-hex id names the directory, so a
 * directory that exists is this container on this host):
 *   cgroup v1, cgroupfs driver:  /sys/fs/cgroup/{cpuacct,memory}/docker/<id>/
 *   cgroup v2, systemd driver:   /sys/fs/cgroup/system.slice/docker-<id>.scope/
 *   cgroup v2, cgroupfs driver:  /sys/fs/cgroup/docker/<id>/
 * Memory is usage minus inactive page cache, as `docker stats` computes it (v1:
 * `total_inactive_file`, v2: `inactive_file`). When no layout matches (a remote daemon,
 * rootless Docker, another cgroup parent) `read` returns null and the caller asks the API.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** One reading of a container's cgroup. */
export interface CgroupReading {
  /** CPU time used by the container's processes since it started, in ns. */
  cpuNs: number;
  /** Memory in use (page cache excluded), in bytes. */
  memoryBytes: number;
  /** The memory limit in bytes, or null for none ("max", or v1's near-2^63 default). */
  memoryLimitBytes: number | null;
}

type Layout = (root: string, id: string) => { cpu: () => number; memory: () => { usage: number; inactive: number; limit: number | null } } | null;

const V1_UNLIMITED = 2 ** 62; // v1 writes 9223372036854771712 (PAGE_COUNTER_MAX × page size) for "no limit"

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** `key value` lines (memory.stat, cpu.stat) → the value of `key`, or NaN. */
function statField(text: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m === null ? NaN : Number(m[1]);
}

const v1: Layout = (root, id) => {
  const cpuDir = join(root, "cpuacct", "docker", id);
  const memDir = join(root, "memory", "docker", id);
  if (read(join(cpuDir, "cpuacct.usage")) === null) return null;
  return {
    cpu: () => Number(read(join(cpuDir, "cpuacct.usage"))),
    memory: () => {
      const limit = Number(read(join(memDir, "memory.limit_in_bytes")));
      return {
        usage: Number(read(join(memDir, "memory.usage_in_bytes"))),
        inactive: statField(read(join(memDir, "memory.stat")) ?? "", "total_inactive_file"),
        limit: Number.isFinite(limit) && limit < V1_UNLIMITED ? limit : null,
      };
    },
  };
};

function v2At(dir: string): ReturnType<Layout> {
  if (read(join(dir, "cpu.stat")) === null) return null;
  return {
    cpu: () => statField(read(join(dir, "cpu.stat")) ?? "", "usage_usec") * 1000,
    memory: () => {
      const max = (read(join(dir, "memory.max")) ?? "max").trim();
      return {
        usage: Number(read(join(dir, "memory.current"))),
        inactive: statField(read(join(dir, "memory.stat")) ?? "", "inactive_file"),
        limit: max === "max" ? null : Number(max),
      };
    },
  };
}

const v2Systemd: Layout = (root, id) => v2At(join(root, "system.slice", `docker-${id}.scope`));
const v2Cgroupfs: Layout = (root, id) => v2At(join(root, "docker", id));

/**
 * Reads containers' cgroups under `root` (default /sys/fs/cgroup). Remembers the layout that
 * worked, so a host without any costs one failed lookup per container, not per sample.
 */
export class CgroupStatsReader {
  private readonly root: string;
  private layouts: Layout[] = [v1, v2Systemd, v2Cgroupfs];
  /** After this many containers were not found in any layout, stop looking (not this host's daemon). */
  private misses = 0;

  constructor(root = "/sys/fs/cgroup") {
    this.root = root;
  }

  /** The container's reading, or null when its cgroup is not visible here (ask the API). */
  read(containerId: string): CgroupReading | null {
    if (!/^[0-9a-f]{64}$/.test(containerId) || this.misses >= 3) return null;
    for (const layout of this.layouts) {
      const files = layout(this.root, containerId);
      if (files === null) continue;
      this.layouts = [layout]; // this host's layout
      this.misses = 0;
      const cpuNs = files.cpu();
      const m = files.memory();
      if (!Number.isFinite(cpuNs) || !Number.isFinite(m.usage)) return null; // it stopped mid-read
      return { cpuNs, memoryBytes: Math.max(0, m.usage - (Number.isFinite(m.inactive) ? m.inactive : 0)), memoryLimitBytes: m.limit };
    }
    // Not found: an ended container (the caller's API call says so) or not this host's layout.
    if (this.layouts.length > 1) this.misses++;
    return null;
  }
}
