/**
 * Parent side of the benchmark children. Servers and load generators each run in their own
 * process so their CPU use can be measured (and pinned) separately; they talk to the runner
 * over the fork IPC channel with a tiny request/response protocol (see rpc.ts).
 */
import { fork, execFileSync, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = fileURLToPath(new URL("..", import.meta.url));
export const ROOT_DIR = join(BENCH_DIR, "..");

export interface ChildOptions {
  /** Extra environment, merged over the runner's. */
  env?: Record<string, string>;
  /** Extra node flags, e.g. ["--expose-gc"]. */
  execArgv?: string[];
  /** CPU to pin the whole process (all threads) to, or null to leave it to the scheduler. */
  cpu?: number | null;
  /** Write a CPU profile (node --cpu-prof) into this directory when the child exits. */
  profileDir?: string | null;
  /** How long to wait for the child's ready message. */
  readyTimeoutMs?: number;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

let tasksetAvailable: boolean | null = null;

/** Pins every thread of `pid` to `cpu` with taskset; returns false if that is not possible. */
export function pinProcess(pid: number, cpu: number): boolean {
  if (availableParallelism() < 2) return false;
  if (tasksetAvailable === false) return false;
  try {
    execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
    tasksetAvailable = true;
    return true;
  } catch {
    tasksetAvailable = false;
    return false;
  }
}

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Whatever the child sent with its ready message (URL, port, ...). */
  info: Record<string, unknown> = {};
  pinned: number | null = null;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private output = "";
  private exited: Promise<void>;
  private exitInfo: string | null = null;

  private constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exitInfo = `exited with ${code ?? signal}`;
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${name} ${this.exitInfo} while a call was pending; output:\n${this.output}`));
        }
        this.pending.clear();
        resolve();
      });
    });
    proc.on("message", (m: { id?: number; ok?: boolean; value?: unknown; error?: string }) => {
      if (typeof m.id !== "number") return;
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok === true) p.resolve(m.value);
      else p.reject(new Error(`${name}: ${m.error ?? "call failed"}`));
    });
  }

  /** Forks `script` (path relative to bench/) and waits for its ready message. */
  static async start(name: string, script: string, o: ChildOptions = {}): Promise<Child> {
    const execArgv = [...(o.execArgv ?? [])];
    if (o.profileDir) {
      mkdirSync(o.profileDir, { recursive: true });
      execArgv.push("--cpu-prof", "--cpu-prof-dir", o.profileDir, "--cpu-prof-name", `${name}.cpuprofile`);
    }
    const proc = fork(join(BENCH_DIR, script), [], {
      execArgv,
      env: { ...process.env, ...o.env },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    const child = new Child(name, proc);
    const timeoutMs = o.readyTimeoutMs ?? 30_000;
    child.info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`${name} did not become ready within ${timeoutMs} ms; output:\n${child.output}`));
      }, timeoutMs);
      proc.on("message", (m: { ready?: Record<string, unknown> }) => {
        if (m.ready !== undefined) {
          clearTimeout(timer);
          resolve(m.ready);
        }
      });
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code ?? signal} before it was ready; output:\n${child.output}`));
      });
    });
    if (o.cpu !== undefined && o.cpu !== null && proc.pid !== undefined && pinProcess(proc.pid, o.cpu)) child.pinned = o.cpu;
    return child;
  }

  call<T = unknown>(cmd: string, arg?: unknown, timeoutMs = 120_000): Promise<T> {
    if (this.exitInfo !== null) return Promise.reject(new Error(`${this.name} ${this.exitInfo}; output:\n${this.output}`));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ id, cmd, arg });
    });
  }

  /** Asks the child to close (it exits, writing its CPU profile); kills it if it does not. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.exitInfo !== null) return;
    await this.call("close", undefined, timeoutMs).catch(() => undefined);
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  get recentOutput(): string {
    return this.output;
  }
}

/** Stops children in order, never throwing (used in finally blocks). */
export async function stopAll(...children: (Child | null | undefined)[]): Promise<void> {
  for (const c of children) if (c) await c.stop().catch(() => undefined);
}
