/**
 * TCP client connections into a room's network namespace, for the server's own clients (the
 * MCP bridge). One long-lived helper per room, entered with nsenter (connect-child.js),
 * connects to the room's 127.0.0.1:<port> and passes the connected socket back over IPC, as
 * listener.ts does for the listening socket: after the hand-over the server talks to the
 * service directly, with no proxy copying bytes. Spawned lazily, respawned if it dies,
 * killed by close(). Needs root (CAP_SYS_ADMIN) for setns.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import type { Logger } from "../types.ts";
import { HELPER_START_TIMEOUT_MS, NetnsError } from "./listener.ts";
import type { HelperSpawnLimit } from "./spawn-limit.ts";

const CHILD = fileURLToPath(new URL("./connect-child.js", import.meta.url));

type Pending = { resolve: (s: Socket) => void; reject: (e: Error) => void };

/** Lifecycle of the helper: spawned on first use; `closed` is terminal. */
type HelperState =
  | { kind: "idle" }
  /** Waiting for a start-up slot from the runtime's HelperSpawnLimit. */
  | { kind: "queued"; ready: Promise<ChildProcess> }
  | { kind: "starting" | "ready"; child: ChildProcess; ready: Promise<ChildProcess> }
  | { kind: "closed" };

export class NetnsConnector {
  private readonly netnsPath: string;
  private readonly log: Logger;
  private readonly spawns: HelperSpawnLimit;
  private state: HelperState = { kind: "idle" };
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** `spawns` bounds concurrent helper start-ups (shared by the whole runtime). */
  constructor(netnsPath: string, log: Logger, spawns: HelperSpawnLimit) {
    this.netnsPath = netnsPath;
    this.log = log;
    this.spawns = spawns;
  }

  /**
   * A socket connected to 127.0.0.1:`port` inside the namespace. Rejects with NetnsError on
   * refusal, timeout (`timeoutMs`, enforced by the helper, with a backstop here) or close().
   */
  async connect(port: number, timeoutMs = 5000): Promise<Socket> {
    const child = await this.start();
    const id = this.nextId++;
    return new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => settle(new NetnsError(`connector did not answer within ${timeoutMs + 2000} ms`)), timeoutMs + 2000);
      const settle = (r: Socket | Error) => {
        clearTimeout(timer);
        this.pending.delete(id);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      this.pending.set(id, { resolve: settle, reject: settle });
      child.send({ id, port, timeoutMs });
    });
  }

  private start(): Promise<ChildProcess> {
    const st = this.state;
    if (st.kind === "closed") return Promise.reject(new NetnsError("the room's network connector is closed"));
    if (st.kind !== "idle") return st.ready;
    // The slot is held from spawn until the helper says it is ready (or fails): start-up is
    // the CPU-heavy part; a running helper is cheap and does not hold a slot.
    const ready: Promise<ChildProcess> = this.spawns.run("connector helper", (): Promise<ChildProcess> => this.spawnHelper(ready));
    this.state = { kind: "queued", ready };
    ready.catch(() => {
      const st = this.state;
      if (st.kind !== "idle" && st.kind !== "closed" && st.ready === ready) this.state = { kind: "idle" }; // the next connect retries
    });
    return ready;
  }

  private spawnHelper(ready: Promise<ChildProcess>): Promise<ChildProcess> {
    if (this.state.kind === "closed") return Promise.reject(new NetnsError("the room's network connector is closed"));
    let child!: ChildProcess;
    const started = new Promise<ChildProcess>((resolve, reject) => {
      child = spawn("nsenter", [`--net=${this.netnsPath}`, "--", process.execPath, CHILD], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
      let stderr = "";
      child.stderr!.on("data", (c: Buffer) => {
        if (stderr.length < 4096) stderr += c.toString("utf8");
      });
      // A helper that never reports ready would hold its start-up slot for ever.
      const startTimer = setTimeout(() => {
        reject(new NetnsError(`connector helper did not start within ${HELPER_START_TIMEOUT_MS} ms`));
        child.kill("SIGKILL");
      }, HELPER_START_TIMEOUT_MS);
      child.on("error", (err) => reject(new NetnsError(`cannot start the connector helper: ${err.message}`)));
      child.on("message", (m: { ready?: boolean; id?: number; ok?: boolean; error?: string }, handle: unknown) => {
        if (m.ready === true) {
          // Between connects the helper must not keep the server's event loop alive.
          child.unref();
          (child.channel as { unref?: () => void } | undefined)?.unref?.();
          if (this.state.kind === "starting" && this.state.child === child) this.state = { kind: "ready", child, ready: this.state.ready };
          clearTimeout(startTimer);
          return resolve(child);
        }
        const p = m.id === undefined ? undefined : this.pending.get(m.id);
        if (p === undefined) {
          (handle as Socket | undefined)?.destroy?.(); // a late answer: nobody wants this socket
          return;
        }
        if (m.ok === true && handle !== undefined) p.resolve(handle as Socket);
        else p.reject(new NetnsError(m.error ?? "no socket received from the connector"));
      });
      child.on("exit", (code, signal) => {
        clearTimeout(startTimer);
        if ((this.state.kind === "starting" || this.state.kind === "ready") && this.state.child === child) this.state = { kind: "idle" };
        const why = `connector helper exited (${signal ?? code})${stderr.trim() ? `: ${stderr.trim()}` : ""}; does this process have CAP_SYS_ADMIN for nsenter?`;
        reject(new NetnsError(why));
        for (const p of [...this.pending.values()]) p.reject(new NetnsError(why));
        if (this.state.kind !== "closed") this.log.warn({ code, signal }, "netns connector exited; it will be restarted on the next connect");
      });
    });
    this.state = { kind: "starting", child, ready };
    return started;
  }

  /** Kills the helper; pending and later connects fail. Sockets already handed over stay open. */
  close(): void {
    const st = this.state;
    this.state = { kind: "closed" };
    if (st.kind === "starting" || st.kind === "ready") {
      const c = st.child;
      if (c.exitCode === null && c.signalCode === null) {
        if (c.connected) c.disconnect();
        c.kill("SIGKILL");
      }
    }
    for (const p of [...this.pending.values()]) p.reject(new NetnsError("the room's network connector is closed"));
  }
}
