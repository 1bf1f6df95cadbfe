/**
 * Where a room start's CPU goes, read from the kernel: this process (the in-process server
 * and the participant), the Docker daemons (dockerd, containerd) and the containers' own
 * cgroups (cgroup v1 cpuacct or v2 cpu.stat). Linux only; a value that cannot be read is NaN.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ = 100 on Linux

function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_MS; // utime, stime
  } catch {
    return NaN;
  }
}

let daemonPids: number[] | null = null;

/** CPU ms used so far by dockerd and containerd (found once by their command names). */
export function daemonsCpuMs(): number {
  daemonPids ??= readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      return comm === "dockerd" || comm === "containerd";
    } catch {
      return false;
    }
  });
  return daemonPids.reduce((a, pid) => a + procCpuMs(pid), 0);
}

/** CPU ms this process has used (server and participant, when the server runs in-process). */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU ms a running container's cgroup has used (its processes, from their start). */
export function containerCpuMs(id: string): number {
  for (const [path, parse] of [
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (s: string) => Number(s) / 1e6],
    [`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, (s: string) => Number(/usage_usec (\d+)/.exec(s)?.[1]) / 1000],
    [`/sys/fs/cgroup/docker/${id}/cpu.stat`, (s: string) => Number(/usage_usec (\d+)/.exec(s)?.[1]) / 1000],
  ] as const) {
    try {
      return parse(readFileSync(path, "utf8"));
    } catch {
      // next layout
    }
  }
  return NaN;
}
