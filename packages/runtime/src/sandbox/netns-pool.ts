/**
 * Ready room namespaces for the sandbox runtime, as the Docker runtime keeps ready pause
 * containers: each entry is an `ip netns` with its loopback up, the probe helper already
 * started inside it and the Room API listener (127.0.0.1:8078) already open, so a session's
 * start only spawns its services.
 *
 * Safety rules:
 * - An entry is handed out at most once and never comes back: a session's namespace is
 *   deleted when the session ends, so nothing a session left (sockets, listeners, processes)
 *   can reach the next one. Entries are fresh namespaces nobody has entered but our helpers.
 * - Every entry's name starts with the runtime's owner prefix, so a killed server's entries
 *   are reaped by the next start (`SandboxRuntime.reapOrphans`), which spares `names()`.
 * - An entry whose namespace was deleted from outside is discarded at hand-out.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import type { Server } from "node:net";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { NetnsProber } from "../netns/prober.ts";
import type { HelperSpawnLimit } from "../netns/spawn-limit.ts";
import type { Logger } from "../types.ts";

const run = promisify(execFile);

/**
 * How long after a hand-out the pool starts refilling. A refill costs two Node start-ups (probe
 * helper, listener helper) and two `ip` runs; on a small machine, doing that while the
 * session's own services start would take CPU from exactly what the session waits for.
 */
export const REFILL_DELAY_MS = 1000;

/** Where `ip netns` keeps its named namespaces (bind-mounted nsfs files). */
export const NETNS_DIR = "/run/netns";

/** The Room API address a pooled listener is opened on (the only one rooms use). */
export const POOLED_LISTENER = { host: "127.0.0.1", port: 8078 } as const;

/** A ready namespace, owned by whoever took it from the pool. */
export interface ReadyNetns {
  /** `ip netns` name (owner prefix + random). */
  name: string;
  prober: NetnsProber;
  /** Opened on POOLED_LISTENER; rejects if the helper failed (the session then opens its own). */
  listener: Promise<Server>;
}

/** Creates a named namespace with its loopback up; deletes it again if that fails. */
export async function createNetns(name: string): Promise<void> {
  await run("ip", ["netns", "add", name]);
  try {
    await run("ip", ["-n", name, "link", "set", "lo", "up"]);
  } catch (err) {
    await run("ip", ["netns", "del", name]).catch(() => {});
    throw err;
  }
}

/** Deletes a named namespace; a missing one is not an error. */
export async function deleteNetns(name: string): Promise<void> {
  if (!existsSync(`${NETNS_DIR}/${name}`)) return;
  await run("ip", ["netns", "del", name]);
}

/** Frees everything a ready namespace holds: helper, listener, the namespace itself. */
export async function discardReady(e: ReadyNetns, log: Logger): Promise<void> {
  e.prober.close();
  (await e.listener.catch(() => null))?.close();
  await deleteNetns(e.name).catch((err) => log.warn({ err, netns: e.name }, "could not delete a pooled namespace; reapOrphans will"));
}

export class NetnsPool {
  private readonly size: number;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly spawns: HelperSpawnLimit;
  private readonly ready: ReadyNetns[] = [];
  /** Names being created right now (spared by reaping as well). */
  private readonly filling = new Set<string>();
  /** In-flight fills; close() waits for them so no entry outlives the runtime. */
  private readonly fills = new Set<Promise<void>>();
  private closed = false;
  private refillTimer: ReturnType<typeof setTimeout> | null = null;

  /** `prefix` must be the runtime's owner prefix (what reapOrphans matches); `spawns` is the runtime's helper start-up limit. */
  constructor(o: { size: number; prefix: string; log: Logger; spawns: HelperSpawnLimit }) {
    this.spawns = o.spawns;
    this.size = Math.max(0, o.size);
    this.prefix = o.prefix;
    this.log = o.log;
  }

  /** Entries ready right now. */
  get count(): number {
    return this.ready.length;
  }

  /** Names of every entry, ready or being prepared: never orphans. */
  names(): Set<string> {
    return new Set([...this.ready.map((e) => e.name), ...this.filling]);
  }

  /** Tops the pool up to its size in the background; failures are logged, never thrown. */
  fill(): void {
    while (!this.closed && this.ready.length + this.filling.size < this.size) {
      const name = `${this.prefix}p${randomBytes(5).toString("hex")}`;
      this.filling.add(name);
      const fill: Promise<void> = createNetns(name)
        .then(async () => {
          // One helper per namespace: the probe helper also opens the Room API listener.
          const prober = new NetnsProber(`${NETNS_DIR}/${name}`, this.log, this.spawns);
          const listener = prober.listen(POOLED_LISTENER.host, POOLED_LISTENER.port);
          listener.catch(() => undefined); // observed when taken (or discarded)
          const entry: ReadyNetns = { name, prober, listener };
          if (this.closed) await discardReady(entry, this.log);
          else this.ready.push(entry);
        })
        .catch((err) => this.log.warn({ err }, "could not prepare a pooled room namespace"))
        .finally(() => {
          this.filling.delete(name);
          this.fills.delete(fill);
        });
      this.fills.add(fill);
    }
  }

  /**
   * The oldest ready namespace that still exists (one deleted from outside would hand the
   * session a dead namespace), or undefined. The caller owns it from now on. Refills
   * REFILL_DELAY_MS later (at once when the pool was empty).
   */
  take(): ReadyNetns | undefined {
    let out: ReadyNetns | undefined;
    for (let e = this.ready.shift(); e !== undefined; e = this.ready.shift()) {
      if (existsSync(`${NETNS_DIR}/${e.name}`)) {
        out = e;
        break;
      }
      this.log.warn({ netns: e.name }, "a pooled room namespace was deleted from outside; discarding it");
      void discardReady(e, this.log);
    }
    if (out === undefined) this.fill();
    else if (this.refillTimer === null) {
      this.refillTimer = setTimeout(() => {
        this.refillTimer = null;
        this.fill();
      }, REFILL_DELAY_MS);
      this.refillTimer.unref();
    }
    return out;
  }

  /** Stops refilling and removes every entry (waits for fills under way). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.refillTimer !== null) clearTimeout(this.refillTimer);
    this.refillTimer = null;
    await Promise.allSettled([...this.fills]);
    await Promise.allSettled(this.ready.splice(0).map((e) => discardReady(e, this.log)));
  }
}
