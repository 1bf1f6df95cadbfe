/**
 * The sandbox runtime, for hosts without Docker: each room gets its own network namespace
 * (`ip netns`, loopback only), each service a bubblewrap sandbox inside it (PID/mount/UTS/IPC
 * namespaces, read-only root, private /tmp and /run, secrets at /run/secrets).
 *
 * Weaker than Docker and documented as such: no images (the host's root, or `image` naming a
 * rootfs directory, is mounted read-only), no cgroup limits (resources are ignored with a
 * warning), no OOM detection.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Server, Socket } from "node:net";
import { constants } from "node:os";
import { promisify } from "node:util";
import { LineSplitter } from "../logs.ts";
import type { ResourceUsage } from "../stats.ts";
import { SandboxStatsSampler } from "./stats.ts";
import { formatSeconds } from "../docker/container.ts";
import { killTree, processTree } from "../proc.ts";
import { openListenerInNetns, roomApiFromListener, ROOM_API_PORT } from "../netns/listener.ts";
import { NetnsConnector } from "../netns/connector.ts";
import { NetnsProber } from "../netns/prober.ts";
import type { CheckResult } from "../probes.ts";
import { defaultSecretsRoot, reapSecretDirs, removeEmptySecretDirs, SECRETS_MOUNT, SessionSecrets } from "../secrets.ts";
import { LaunchFailure, ServiceSupervisor, startOrRestart, type ExitInfo, type LaunchHooks, type RunningInstance, type ServiceDriver } from "../supervisor.ts";
import type { Clock, Logger, ProbeAction, ReapResult, RoomApiEndpoint, RoomSandbox, Runtime, ServiceConnector, ServiceHandle, ServiceLaunchSpec } from "../types.ts";

const run = promisify(execFile);
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface SandboxRuntimeOptions {
  ownerId: string;
  logger: Logger;
  clock?: Clock;
  secretsRoot?: string;
}

/** Checks for bwrap, ip and nsenter and the privilege to use them; throws saying what is missing. */
export async function createSandboxRuntime(o: SandboxRuntimeOptions): Promise<SandboxRuntime> {
  for (const [bin, flag, pkg] of [["bwrap", "--version", "bubblewrap"], ["ip", "-V", "iproute2"], ["nsenter", "--version", "util-linux"]] as const) {
    try {
      await run(bin, [flag]);
    } catch {
      throw new Error(`the sandbox runtime needs ${bin}: apt-get install -y ${pkg}`);
    }
  }
  if (process.getuid?.() !== 0) throw new Error("the sandbox runtime needs root (ip netns, nsenter); run the server as root or use Docker");
  return new SandboxRuntime(o);
}

function short(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 10);
}

/** Top-level entries that bwrap provides itself (or that must stay private). */
const OWN_MOUNTS = new Set(["dev", "proc", "tmp", "run"]);

/**
 * The sandbox root: bwrap starts from an empty tmpfs, into which each top-level entry of
 * `root` is bound (symlinks recreated). Binding entry by entry rather than `root` itself on
 * `/` leaves the tmpfs writable at the top, so mount targets such as /data can be created
 * even though the host's root stays read-only.
 */
function rootBinds(root: string, writable: boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(root)) {
    if (OWN_MOUNTS.has(name)) continue;
    const p = join(root, name);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) out.push("--symlink", readlinkSync(p), `/${name}`);
    else out.push(writable ? "--bind" : "--ro-bind", p, `/${name}`);
  }
  return out;
}

/**
 * Absolute paths among `args` that fall under /tmp or /run (private in the sandbox), reduced
 * to their first directory below it (/tmp/<app>), so the app's files and node_modules show.
 */
function hiddenProgramDirs(root: string, args: string[]): string[] {
  if (root !== "/") return [];
  const dirs = new Set<string>();
  for (const a of args) {
    const m = /^\/(tmp|run)\/([^/]+)/.exec(a);
    if (m === null) continue;
    const dir = `/${m[1]}/${m[2]}`;
    if (existsSync(dir) && statSync(dir).isDirectory()) dirs.add(dir);
  }
  return [...dirs];
}

export class SandboxRuntime implements Runtime {
  readonly kind = "sandbox" as const;
  readonly ownerId: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly secretsRoot: string;
  private readonly live = new Map<string, SandboxRoom>();
  private readonly statsSampler = new SandboxStatsSampler();

  /** CPU and memory of a running service's process tree (sandbox/stats.ts); null once it is gone. */
  stats(containerId: string): Promise<ResourceUsage | null> {
    return this.statsSampler.sample(containerId);
  }

  constructor(o: SandboxRuntimeOptions) {
    this.ownerId = o.ownerId;
    this.log = o.logger.child({ runtime: "sandbox" });
    this.clock = o.clock ?? { now: () => Date.now() };
    this.secretsRoot = o.secretsRoot ?? defaultSecretsRoot();
  }

  /** Namespace names carry the owner (hashed): they are the netns's "labels" for reaping. */
  private prefix(owner: string): string {
    return `rs-${short(owner)}-`;
  }

  async createRoomSandbox(o: { room: string; sessionId: string }): Promise<SandboxRoom> {
    const name = `${this.prefix(this.ownerId)}${short(`${o.room}\0${o.sessionId}`)}`;
    await run("ip", ["netns", "add", name]);
    try {
      await run("ip", ["-n", name, "link", "set", "lo", "up"]);
    } catch (err) {
      await run("ip", ["netns", "del", name]).catch(() => {});
      throw err;
    }
    const room = new SandboxRoom({
      room: o.room, sessionId: o.sessionId, netns: name, log: this.log.child({ room: o.room, session: o.sessionId }), clock: this.clock,
      secrets: new SessionSecrets(this.secretsRoot, this.ownerId, o.sessionId), onStopped: () => this.live.delete(o.sessionId),
    });
    this.live.set(o.sessionId, room);
    return room;
  }

  /** A listening server on host:port inside the room's namespace (sandbox detail; the Room API uses 8078). */
  openRoomApiListener(sandbox: SandboxRoom, port: number, host = "127.0.0.1"): Promise<Server> {
    return openListenerInNetns(sandbox.netnsPath, host, port);
  }

  openRoomApi(sandbox: RoomSandbox, onSocket: (s: Socket) => void): Promise<RoomApiEndpoint> {
    if (!(sandbox instanceof SandboxRoom)) return Promise.reject(new Error("openRoomApi: not a sandbox of the sandbox runtime"));
    return roomApiFromListener(this.openRoomApiListener(sandbox, ROOM_API_PORT), onSocket);
  }

  /**
   * Sandboxed processes die with the server (--die-with-parent), so a killed run leaves only
   * namespaces and secret files.
   */
  async reapOrphans(ownerId: string = this.ownerId): Promise<ReapResult> {
    const liveNames = new Set([...this.live.values()].map((r) => r.netns));
    const { stdout } = await run("ip", ["netns", "list"]);
    const prefix = ownerId === "*" ? "rs-" : this.prefix(ownerId);
    let networks = 0;
    for (const line of stdout.split("\n")) {
      const name = line.split(" ")[0];
      if (!name?.startsWith(prefix) || liveNames.has(name)) continue;
      await run("ip", ["netns", "del", name]).then(() => networks++, (err) => this.log.warn({ err, netns: name }, "could not delete namespace"));
    }
    const liveDirs = new Set([...this.live.values()].map((r) => r.secretsDir));
    const files = await reapSecretDirs(this.secretsRoot, ownerId === "*" ? undefined : ownerId, liveDirs);
    return { containers: 0, networks, files };
  }

  async close(): Promise<void> {
    if (this.live.size === 0) await removeEmptySecretDirs(this.secretsRoot, this.ownerId);
  }
}

interface RoomInit {
  room: string;
  sessionId: string;
  netns: string;
  log: Logger;
  clock: Clock;
  secrets: SessionSecrets;
  onStopped(): void;
}

export class SandboxRoom implements RoomSandbox, ServiceDriver {
  readonly room: string;
  readonly sessionId: string;
  readonly netns: string;
  readonly netnsPath: string;
  private readonly i: RoomInit;
  private readonly prober: NetnsProber;
  private readonly handles = new Map<string, ServiceSupervisor>();
  private stopping: Promise<void> | null = null;
  private warnedLimits = false;

  constructor(i: RoomInit) {
    this.i = i;
    this.room = i.room;
    this.sessionId = i.sessionId;
    this.netns = i.netns;
    this.netnsPath = `/run/netns/${i.netns}`;
    this.prober = new NetnsProber(this.netnsPath, i.log);
    this.prober.warm();
  }

  get secretsDir(): string {
    return this.i.secrets.dir;
  }

  openConnector(log: Logger): ServiceConnector {
    return new NetnsConnector(this.netnsPath, log);
  }

  startService(spec: ServiceLaunchSpec): ServiceHandle {
    return startOrRestart(this.handles, spec, this, this.i.log, this.i.clock);
  }

  services(): ServiceHandle[] {
    return [...this.handles.values()];
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.handles.values()].map((h) => h.stop()));
      this.prober.close();
      await run("ip", ["netns", "del", this.netns]).catch((err) => this.i.log.warn({ err }, "could not delete the room namespace; reapOrphans will"));
      await this.i.secrets.removeAll().catch((err) => this.i.log.warn({ err }, "could not remove the room's secret files"));
      this.i.onStopped();
    })();
    return this.stopping;
  }

  // ---- ServiceDriver ----

  netCheck(action: Exclude<ProbeAction, { kind: "exec" }>, timeoutMs: number): Promise<CheckResult> {
    return this.prober.check(action, timeoutMs);
  }

  release(serviceId: string): Promise<void> {
    return this.i.secrets.release(serviceId);
  }

  async launch(spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance> {
    if (this.stopping !== null) throw new LaunchFailure("the room's session has ended", { retry: false });
    if (spec.command === undefined || spec.command.length === 0) {
      throw new LaunchFailure("the sandbox runtime has no images to take a default command from: set container.command");
    }
    const r = spec.resources;
    if (!this.warnedLimits && (r.memoryBytes !== undefined || r.nanoCpus !== undefined)) {
      this.warnedLimits = true;
      this.i.log.warn({ service: spec.serviceId }, "the sandbox runtime does not enforce memory/CPU limits; use Docker for that");
    }
    const root = spec.image.startsWith("/") && existsSync(spec.image) && statSync(spec.image).isDirectory() ? spec.image : "/";
    let secretsDir: string;
    try {
      secretsDir = await this.i.secrets.write(spec.serviceId, spec.secretFiles);
    } catch (err) {
      throw new LaunchFailure(`could not write secret files: ${(err as Error).message}`);
    }
    const args = [
      `--net=${this.netnsPath}`, "--", "bwrap",
      ...rootBinds(root, spec.writableRootFs),
      "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run",
      "--ro-bind", secretsDir, SECRETS_MOUNT,
      "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
      "--json-status-fd", "3",
    ];
    // The program itself may live under a directory the sandbox replaces with a private tmpfs
    // (an app checked out under /tmp, say): make that tree visible again, read-only.
    for (const dir of hiddenProgramDirs(root, [...spec.command, ...(spec.workingDir === undefined ? [] : [spec.workingDir])])) {
      args.push("--ro-bind", dir, dir);
    }
    for (const m of spec.mounts) args.push(m.readOnly ? "--ro-bind" : "--bind", m.hostPath, m.containerPath);
    if (spec.workingDir !== undefined) args.push("--chdir", spec.workingDir);
    args.push("--", ...spec.command);
    // Env goes through bwrap's own environment, not --setenv: argv is world-readable in /proc.
    const child = spawn("nsenter", args, {
      env: { PATH: DEFAULT_PATH, ...spec.env, ...Object.fromEntries((spec.secretEnv ?? []).filter((n) => n in spec.secretFiles).map((n) => [n, spec.secretFiles[n]!])) }, stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    const inst = new BwrapInstance(child, hooks);
    try {
      await inst.started;
    } catch (err) {
      throw new LaunchFailure(`sandbox failed to start: ${(err as Error).message}`);
    }
    hooks.created(inst.id);
    return inst;
  }
}

class BwrapInstance implements RunningInstance {
  id = "";
  readonly started: Promise<void>;
  readonly exited: Promise<ExitInfo>;
  private readonly child: ChildProcess;
  private childPid = 0;
  private ended = false;
  private readonly logsDone: Promise<void>;

  constructor(child: ChildProcess, hooks: LaunchHooks) {
    this.child = child;
    let stderrHead = "";
    const streams = (["stdout", "stderr"] as const).map((name) => {
      const s = child[name]!;
      s.on("data", (c: Buffer) => {
        if (name === "stderr" && stderrHead.length < 2048) stderrHead += c.toString("utf8");
        hooks.output(name, c);
      });
      return new Promise<void>((res) => s.on("close", () => (hooks.outputEnd(name), res())));
    });
    this.logsDone = Promise.all(streams).then(() => {});
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.ended = true;
        const sig = signal !== null ? (constants.signals as Record<string, number>)[signal] ?? 9 : 0;
        resolve({ exitCode: code ?? 128 + sig, oomKilled: false });
      });
    });
    this.started = new Promise((resolve, reject) => {
      let buf = "";
      const status = child.stdio[3] as NodeJS.ReadableStream;
      status.on("data", (c: Buffer) => {
        buf += c.toString("utf8");
        const m = /"child-pid":\s*(\d+)/.exec(buf);
        if (m !== null && this.childPid === 0) {
          this.childPid = Number(m[1]);
          this.id = `bwrap-${this.childPid}`;
          resolve();
        }
      });
      child.on("error", reject);
      void this.exited.then((e) => reject(new Error(`exited with ${e.exitCode} before starting${stderrHead ? `: ${stderrHead.trim()}` : ""}`)));
    });
  }

  async signal(sig: string): Promise<void> {
    if (this.ended) return;
    // bwrap's child-pid is the namespace's init; SIGKILL to it ends the whole namespace. Any
    // other signal goes to every process under the init (the service and whatever it forked,
    // as tini's process-group forwarding does under Docker), where default dispositions apply.
    if (sig === "SIGKILL" || this.childPid === 0) {
      try {
        process.kill(this.childPid > 0 ? this.childPid : this.child.pid!, sig as NodeJS.Signals);
      } catch {
        // already gone
      }
      return;
    }
    for (const pid of processTree(this.childPid)) {
      if (pid === this.childPid) continue;
      try {
        process.kill(pid, sig as NodeJS.Signals);
      } catch {
        // already gone
      }
    }
  }

  /**
   * Runs a probe command in the service's namespaces. On timeout nsenter and everything under
   * it (nsenter -p forks the command) get SIGKILL, and this returns only once they are gone.
   */
  exec(command: string[], timeoutMs: number): Promise<CheckResult> {
    return new Promise((resolve) => {
      const child = spawn("nsenter", ["-t", String(this.childPid), "-m", "-n", "-p", "-u", "-i", "--", ...command], { stdio: "ignore" });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) killTree(child.pid, "SIGKILL");
      }, timeoutMs);
      child.on("error", (err) => {
        clearTimeout(timer);
        resolve({ ok: false, error: err.message });
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        if (timedOut) resolve({ ok: false, error: `timed out after ${formatSeconds(timeoutMs)}` });
        else if (code === 0) resolve({ ok: true });
        else resolve({ ok: false, error: `command exited with ${code ?? signal}` });
      });
    });
  }

  async remove(): Promise<void> {
    await Promise.race([this.logsDone, new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
