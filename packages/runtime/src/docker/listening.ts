/**
 * Which TCP ports of a room's loopback are listening, read from the kernel: /proc/<pid>/net/tcp
 * and tcp6 of a process inside the room's network namespace (its pause container) list that
 * namespace's sockets. While a service comes up its probes ask every 20 ms; answering "not
 * listening yet" from one small file read, instead of a connect made by the probe helper over
 * IPC, leaves the CPU to the services that are starting. Once a port listens, the real check
 * (HTTP status, TCP connect) runs through the helper as before.
 */
import { readFile } from "node:fs/promises";

const LISTEN = "0A"; // TCP_LISTEN in include/net/tcp_states.h

/** Ports in LISTEN state in a /proc/net/tcp{,6} table. */
export function parseListening(table: string): Set<number> {
  const ports = new Set<number>();
  for (const line of table.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== LISTEN) continue;
    const port = Number.parseInt(f[1]!.slice(f[1]!.lastIndexOf(":") + 1), 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

export class ListeningPorts {
  private readonly pid: number;
  private readonly maxAgeMs: number;
  private cached: { at: number; ports: Promise<Set<number> | null> } | null = null;

  /** `pid`: a process in the room's namespace; readings are shared for `maxAgeMs`. */
  constructor(pid: number, maxAgeMs = 10) {
    this.pid = pid;
    this.maxAgeMs = maxAgeMs;
  }

  /** true / false, or null when the tables cannot be read (then ask the probe helper). */
  async isListening(port: number): Promise<boolean | null> {
    const now = performance.now();
    if (this.cached === null || now - this.cached.at > this.maxAgeMs) this.cached = { at: now, ports: this.read() };
    const ports = await this.cached.ports;
    return ports === null ? null : ports.has(port);
  }

  private async read(): Promise<Set<number> | null> {
    try {
      const [v4, v6] = await Promise.all([
        readFile(`/proc/${this.pid}/net/tcp`, "utf8"),
        readFile(`/proc/${this.pid}/net/tcp6`, "utf8").catch(() => ""),
      ]);
      const ports = parseListening(v4);
      for (const p of parseListening(v6)) ports.add(p);
      return ports;
    } catch {
      return null;
    }
  }
}
