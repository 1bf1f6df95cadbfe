/**
 * HTTP/TCP checks against a room's 127.0.0.1, performed by one long-lived helper process
 * inside the room's network namespace (probe-child.js), which also opens the room's listening
 * sockets (listen()). Spawned lazily, respawned if it dies, killed by close().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger, ProbeAction } from "../types.ts";
import type { HelperSpawnLimit } from "./spawn-limit.ts";
import { HELPER_START_TIMEOUT_MS, NetnsError } from "./listener.ts";
import type { Server } from "node:net";

const CHILD = fileURLToPath(new URL("./probe-child.js", import.meta.url));

export interface CheckResult {
  ok: boolean;
  error?: string;
  status?: number;
}

export type NetCheck = Exclude<ProbeAction, { kind: "exec" }>;

export class NetnsProber {
  private readonly netnsPath: string;
  private readonly log: Logger;
  private readonly spawns: HelperSpawnLimit;
  private child: ChildProcess | null = null;
  private ready: Promise<ChildProcess> | null = null;
  private readonly pending = new Map<number, (r: CheckResult) => void>();
  /** listen() requests in flight: their answer carries a socket handle. */
  private readonly listens = new Map<number, (r: CheckResult, handle?: unknown) => void>();
  private nextId = 1;
  private closed = false;

  /** `spawns` bounds concurrent helper start-ups (shared by the whole runtime). */
  constructor(netnsPath: string, log: Logger, spawns: HelperSpawnLimit) {
    this.netnsPath = netnsPath;
    this.log = log;
    this.spawns = spawns;
  }

  async check(action: NetCheck, timeoutMs: number): Promise<CheckResult> {
    if (this.closed) return { ok: false, error: "sandbox is closed" };
    let child: ChildProcess;
    try {
      child = await this.start();
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    const id = this.nextId++;
    return new Promise<CheckResult>((resolve) => {
      // A backstop in case the helper stops answering (the helper enforces timeoutMs itself).
      const timer = setTimeout(() => done({ ok: false, error: `checker did not answer within ${timeoutMs + 2000} ms` }), timeoutMs + 2000);
      const done = (r: CheckResult) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(r);
      };
      this.pending.set(id, done);
      child.send({ id, action, timeoutMs });
    });
  }

  /**
   * A listening server on `host`:`port` inside the namespace, opened by this helper and
   * handed over (the room's Room API listener): one helper per room for both jobs, so a room
   * costs one Node start-up instead of two. `timeoutMs` counts once the helper runs. Rejects
   * with NetnsError, as openListenerInNetns does.
   */
  async listen(host: string, port: number, timeoutMs = HELPER_START_TIMEOUT_MS): Promise<Server> {
    const fail = (why: string) => new NetnsError(`cannot listen on ${host}:${port} in ${this.netnsPath}: ${why}. ` +
      "Entering a namespace needs root or CAP_SYS_ADMIN, nsenter (util-linux), and a live sandbox.");
    if (this.closed) throw fail("sandbox is closed");
    let child: ChildProcess;
    try {
      child = await this.start();
    } catch (err) {
      throw fail((err as Error).message);
    }
    const id = this.nextId++;
    return new Promise<Server>((resolve, reject) => {
      const timer = setTimeout(() => done({ ok: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
      const done = (r: CheckResult, handle?: unknown) => {
        clearTimeout(timer);
        this.pending.delete(id);
        this.listens.delete(id);
        if (r.ok && handle !== undefined) resolve(handle as Server);
        else {
          // A socket that arrives too late must not stay open (it would hold the namespace).
          (handle as Server | undefined)?.close?.();
          reject(fail(r.error ?? "no socket handle received"));
        }
      };
      this.pending.set(id, (r) => done(r));
      this.listens.set(id, done);
      child.send({ id, listen: { host, port } });
    });
  }

  /** Starts the helper ahead of the first check (it costs one node start-up, ~40 ms). */
  warm(): void {
    this.start().catch(() => {}); // the first check reports (and retries) a failure
  }

  private start(): Promise<ChildProcess> {
    if (this.ready !== null) return this.ready;
    // The slot is held from spawn until the helper says it is ready (or fails): start-up is
    // the CPU-heavy part; a running helper is cheap and does not hold a slot.
    const ready = this.spawns.run("probe helper", () => this.spawnHelper());
    this.ready = ready;
    ready.catch(() => {
      if (this.ready === ready) this.ready = null; // the next check retries
    });
    return ready;
  }

  private spawnHelper(): Promise<ChildProcess> {
    if (this.closed) return Promise.reject(new Error("sandbox is closed"));
    return new Promise<ChildProcess>((resolve, reject) => {
      const child = spawn("nsenter", [`--net=${this.netnsPath}`, "--", process.execPath, CHILD], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
      this.child = child; // set now, so close() during start-up still kills it
      let stderr = "";
      child.stderr!.on("data", (c: Buffer) => {
        if (stderr.length < 4096) stderr += c.toString("utf8");
      });
      // A helper that never reports ready would hold its start-up slot for ever.
      const startTimer = setTimeout(() => {
        reject(new Error(`probe helper did not start within ${HELPER_START_TIMEOUT_MS} ms`));
        child.kill("SIGKILL");
      }, HELPER_START_TIMEOUT_MS);
      child.on("error", (err) => reject(new Error(`cannot start the probe helper: ${err.message}`)));
      child.on("message", (m: { ready?: boolean; id?: number } & CheckResult, handle?: unknown) => {
        if (m.ready === true) {
          // Checks keep the helper busy; between them it must not hold the server's event loop open.
          child.unref();
          (child.channel as { unref?: () => void } | undefined)?.unref?.();
          clearTimeout(startTimer);
          return resolve(child);
        }
        if (m.id === undefined) return;
        const listen = this.listens.get(m.id);
        if (listen !== undefined) return listen({ ok: m.ok, error: m.error }, handle);
        if (handle !== undefined) (handle as Server).close?.(); // an answer nobody waits for any more
        this.pending.get(m.id)?.({ ok: m.ok, error: m.error, status: m.status });
      });
      child.on("exit", (code, signal) => {
        clearTimeout(startTimer);
        if (this.child === child) {
          this.child = null;
          this.ready = null;
        }
        reject(new Error(`probe helper exited (${signal ?? code})${stderr.trim() ? `: ${stderr.trim()}` : ""}; does this process have CAP_SYS_ADMIN for nsenter?`));
        for (const done of [...this.pending.values()]) done({ ok: false, error: "probe helper exited" });
        if (!this.closed) this.log.warn({ code, signal }, "probe helper exited; it will be restarted on the next check");
      });
    });
  }

  close(): void {
    this.closed = true;
    const c = this.child;
    this.child = null;
    this.ready = null;
    if (c !== null && c.exitCode === null && c.signalCode === null) {
      if (c.connected) c.disconnect();
      c.kill("SIGKILL");
    }
    for (const done of [...this.pending.values()]) done({ ok: false, error: "sandbox is closed" });
  }
}
