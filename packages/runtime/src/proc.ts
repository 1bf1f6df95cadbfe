/**
 * Host-side process trees from /proc, for killing what a timed-out probe started (a
 * `docker exec` or `nsenter` process and everything it forked). Needs the privilege to signal
 * those processes (root, as the runtimes require anyway).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Parent pid of `pid` from /proc/<pid>/stat, or null when it is gone. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …" — comm may contain spaces and parentheses: split after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return null;
  }
}

/** `pid` and all its descendants (children before parents is not guaranteed). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const p = Number(name);
    if (!Number.isInteger(p) || p <= 0) continue;
    const pp = parentOf(p);
    if (pp === null) continue;
    let list = children.get(pp);
    if (list === undefined) children.set(pp, (list = []));
    list.push(p);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Sends `signal` to `pid` and every descendant; missing processes are ignored. */
export function killTree(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  for (const p of processTree(pid)) {
    try {
      process.kill(p, signal);
    } catch {
      // already gone
    }
  }
}

/** Whether a process exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Processes in the same pid namespace as `nsPid` (a container's main process) whose argv is
 * exactly `argv`, other than `nsPid` itself: where an engine that cannot kill an exec session
 * (podman 4.3's `podman exec` leaves it running when its client is killed) finds a timed-out
 * probe command to kill.
 */
export function processesRunning(argv: readonly string[], nsPid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${nsPid}/ns/pid`);
  } catch {
    return [];
  }
  const want = argv.join("\0");
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    const p = Number(name);
    if (!Number.isInteger(p) || p <= 0 || p === nsPid) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/pid`) !== ns) continue;
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0$/, "") === want) out.push(p);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
