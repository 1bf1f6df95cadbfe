/**
 * The sandbox runtime, for hosts without Docker: each room gets its own network namespace
 * (`ip netns`, loopback only), each service a bubblewrap sandbox inside it (PID/mount/UTS/IPC
 * namespaces, read-only root, private /tmp and /run, secrets at /run/secrets).
 *
 * Weaker than Docker and documented as such: no images (the host's root, or `image` naming a
 * rootfs directory, is mounted read-only), no cgroup limits (resources are ignored with a
 * warning), no OOM detection.
 *
 * Like the Docker runtime it keeps a pool of ready room namespaces (sandbox/netns-pool.ts) and
 * reports a room whose namespace was deleted from outside (`onLost`), so the launcher rebuilds it.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import type { Server, Socket } from "node:net";
import { constants } from "node:os";
import { promisify } from "node:util";
import { LineSplitter } from "../logs.ts";
import type { ResourceUsage } from "../stats.ts";
import { SandboxStatsSampler } from "./stats.ts";
import { createNetns, deleteNetns, NetnsPool, NETNS_DIR, POOLED_LISTENER } from "./netns-pool.ts";
import { formatSeconds } from "../docker/container.ts";
import { killTree, processTree } from "../proc.ts";
import { roomApiFromListener, ROOM_API_PORT } from "../netns/listener.ts";
import { NetnsConnector } from "../netns/connector.ts";
import { NetnsProber } from "../netns/prober.ts";
import { HelperSpawnLimit, type HelperSpawnLimitOptions } from "../netns/spawn-limit.ts";
import type { CheckResult } from "../probes.ts";
import { defaultSecretsRoot, reapSecretDirs, removeEmptySecretDirs, SECRETS_MOUNT, SessionSecrets } from "../secrets.ts";
import { EMPTY_DIR_SIZE_BYTES, writeFileMounts, type FileBind } from "../file-mounts.ts";
import { LaunchFailure, ServiceSupervisor, startOrRestart, type ExitInfo, type LaunchHooks, type RunningInstance, type ServiceDriver } from "../supervisor.ts";
import type { Clock, Logger, ProbeAction, ReapResult, RoomApiEndpoint, RoomSandbox, Runtime, ServiceConnector, ServiceHandle, ServiceLaunchSpec } from "../types.ts";

const run = promisify(execFile);
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface SandboxRuntimeOptions {
  ownerId: string;
  logger: Logger;
  clock?: Clock;
  secretsRoot?: string;
  /**
   * Room namespaces kept ready (loopback up, probe helper started, Room API listener open)
   * so a session's start only spawns its services. 0 (default) disables the pool. Each costs
   * one idle Node process (the probe helper) and an empty namespace.
   */
  poolSize?: number;
  /**
   * Bounds on namespace helpers starting at once (netns/spawn-limit.ts): how many start at
   * the same time (default 2 × CPUs), how many may wait (1000) and for how long (120 s).
   * Out-of-range values throw a RangeError naming the field.
   */
  helperSpawns?: Pick<HelperSpawnLimitOptions, "maxConcurrent" | "maxWaiters" | "queueTimeoutMs">;
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

/**
 * The bwrap arguments for a service's room mounts, file mounts and empty dirs. Parents
 * before children (an empty dir holding a file mount must exist first), and read-only empty
 * dirs remounted read-only last, after their mount points inside them were made.
 *
 * bwrap creates missing mount points itself — on its own tmpfs root (a new top-level
 * directory), in the private /tmp and /run, or inside an empty dir — but anywhere else a
 * missing one would have to be created in the host directory bound there: refused (a
 * LaunchFailure saying where to mount instead), since it would fail on a read-only root and
 * litter the host's filesystem on a writable one.
 */
function mountArgs(root: string, spec: ServiceLaunchSpec, binds: FileBind[]): string[] {
  type Op = { path: string; kind: "dir" | "file" | "empty"; args: string[] };
  const ops: Op[] = [
    ...spec.mounts.map((m): Op => ({ path: m.containerPath, kind: "dir", args: [m.readOnly ? "--ro-bind" : "--bind", m.hostPath, m.containerPath] })),
    ...binds.map((b): Op => ({ path: b.containerPath, kind: "file", args: [b.readOnly ? "--ro-bind" : "--bind", b.hostPath, b.containerPath] })),
    ...(spec.emptyDirs ?? []).map((d): Op => ({ path: d.containerPath, kind: "empty", args: ["--size", String(EMPTY_DIR_SIZE_BYTES), "--tmpfs", d.containerPath] })),
  ];
  const depth = (p: string) => p.split("/").filter(Boolean).length;
  ops.sort((a, b) => depth(a.path) - depth(b.path)); // stable: declared order within a depth
  const empties = ops.filter((o) => o.kind === "empty").map((o) => o.path);
  for (const o of ops) {
    const why = unmountablePath(root, o.path, o.kind, empties);
    if (why !== null) throw new LaunchFailure(`the sandbox runtime cannot mount ${o.path}: ${why}`, { retry: false });
  }
  const ro = (spec.emptyDirs ?? []).filter((d) => d.readOnly).map((d) => ["--remount-ro", d.containerPath]);
  return [...ops.flatMap((o) => o.args), ...ro.flat()];
}

/** Why bwrap could not make `path`'s mount point without writing to the host, or null. */
function unmountablePath(root: string, path: string, kind: "dir" | "file" | "empty", emptyDirs: string[]): string | null {
  const segs = path.split("/").filter(Boolean);
  const top = segs[0];
  if (top === undefined) return "it is the root";
  if (top === "tmp" || top === "run") return null; // private tmpfs in the sandbox
  if (emptyDirs.some((d) => d !== path && path.startsWith(`${d}/`))) return null;
  const hostTop = join(root, top);
  if (!existsSync(hostTop) && !isSymlink(hostTop)) return null; // made on bwrap's own root
  const host = join(root, ...segs);
  let st;
  try {
    st = statSync(host);
  } catch {
    st = null;
  }
  if (st !== null && (kind === "file" ? st.isFile() : st.isDirectory())) return null; // mounted over what is there
  return `${st === null ? "it does not exist" : kind === "file" ? "it is not a file" : "it is not a directory"} in ${root === "/" ? "the host's" : `the image directory's (${root})`} /${top}, which the sandbox shares; ` +
    `choose a path in a new top-level directory (e.g. /config${kind === "file" ? "/app.yaml" : "/scratch"}), under /tmp or /run, or inside an empty dir`;
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export class SandboxRuntime implements Runtime {
  readonly kind = "sandbox" as const;
  readonly ownerId: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Bounds concurrent namespace-helper start-ups (listener, prober, connector) of this runtime. */
  readonly helperSpawns: HelperSpawnLimit;
  private readonly secretsRoot: string;
  private readonly live = new Map<string, SandboxRoom>();
  private readonly statsSampler = new SandboxStatsSampler();
  private readonly pool: NetnsPool;
  /** Watches NETNS_DIR so a room whose namespace is deleted from outside is reported lost. */
  private watcher: FSWatcher | null = null;

  /** CPU and memory of a running service's process tree (sandbox/stats.ts); null once it is gone. */
  stats(containerId: string): Promise<ResourceUsage | null> {
    return this.statsSampler.sample(containerId);
  }

  /** Drops the previous CPU reading kept for `containerId` (the caller stopped sampling it). */
  forgetStats(containerId: string): void {
    this.statsSampler.forget(containerId);
  }

  /** Containers whose previous CPU reading is kept (tests assert it returns to 0 after sessions). */
  get statsTracked(): number {
    return this.statsSampler.tracked;
  }

  constructor(o: SandboxRuntimeOptions) {
    this.ownerId = o.ownerId;
    this.log = o.logger.child({ runtime: "sandbox" });
    this.clock = o.clock ?? { now: () => Date.now() };
    this.helperSpawns = new HelperSpawnLimit({ ...o.helperSpawns, clock: this.clock });
    this.secretsRoot = o.secretsRoot ?? defaultSecretsRoot();
    this.pool = new NetnsPool({ size: o.poolSize ?? 0, prefix: this.prefix(this.ownerId), log: this.log, spawns: this.helperSpawns });
  }

  /** Fills the pool of ready namespaces in the background (call after reapOrphans). */
  prewarm(): void {
    this.pool.fill();
  }

  /** Room sandboxes not yet stopped (tests assert it returns to 0 after sessions end). */
  get liveSessions(): number {
    return this.live.size;
  }

  /** Pooled namespaces ready right now (for tests, benchmarks and diagnostics). */
  get pooled(): number {
    return this.pool.count;
  }

  /**
   * One inotify watch for every room: `ip netns del` by someone else unlinks the room's file
   * in NETNS_DIR. Its services keep running in the now unnamed namespace, but nothing new
   * can enter it, so the room is reported lost and the launcher builds a new one.
   */
  private watchNetnsDir(): void {
    if (this.watcher !== null) return;
    try {
      this.watcher = watch(NETNS_DIR, (_event, file) => {
        if (file === null) return;
        for (const room of this.live.values()) if (room.netns === file && !existsSync(`${NETNS_DIR}/${file}`)) room.markLost(`the room's network namespace ${file} was deleted from outside Roomservice`);
      });
      this.watcher.unref();
      this.watcher.on("error", (err) => {
        this.log.warn({ err }, "stopped watching the namespace directory; lost rooms will not be noticed");
        this.watcher?.close();
      });
    } catch (err) {
      this.log.warn({ err }, "cannot watch the namespace directory; lost rooms will not be noticed");
    }
  }

  /** Namespace names carry the owner (hashed): they are the netns's "labels" for reaping. */
  private prefix(owner: string): string {
    return `rs-${short(owner)}-`;
  }

  async createRoomSandbox(o: { room: string; sessionId: string }): Promise<SandboxRoom> {
    const log = this.log.child({ room: o.room, session: o.sessionId });
    const ready = this.pool.take();
    let name: string;
    if (ready !== undefined) {
      name = ready.name;
      log.debug({ netns: name }, "room namespace taken from the pool");
    } else {
      name = `${this.prefix(this.ownerId)}${short(`${o.room}\0${o.sessionId}`)}`;
      await createNetns(name);
    }
    const room = new SandboxRoom({
      room: o.room, sessionId: o.sessionId, netns: name, log, clock: this.clock, spawns: this.helperSpawns,
      secrets: new SessionSecrets(this.secretsRoot, this.ownerId, o.sessionId), onStopped: () => this.live.delete(o.sessionId),
      prober: ready?.prober ?? null, listener: ready?.listener ?? null,
    });
    this.live.set(o.sessionId, room);
    this.watchNetnsDir();
    return room;
  }

  /**
   * A listening server on host:port inside the room's namespace (sandbox detail; the Room API
   * uses 8078). A pooled namespace already has its 8078 listener open; if that helper failed,
   * one is opened now.
   */
  openRoomApiListener(sandbox: SandboxRoom, port: number, host = "127.0.0.1"): Promise<Server> {
    const pre = sandbox.takePreopenedListener(port, host);
    return pre?.catch(() => sandbox.listen(host, port)) ?? sandbox.listen(host, port);
  }

  openRoomApi(sandbox: RoomSandbox, onSocket: (s: Socket) => void): Promise<RoomApiEndpoint> {
    if (!(sandbox instanceof SandboxRoom)) return Promise.reject(new Error("openRoomApi: not a sandbox of the sandbox runtime"));
    // A connection from the room is a sign a service is up: its probes look now (ProbeSet.nudge).
    return roomApiFromListener(this.openRoomApiListener(sandbox, ROOM_API_PORT), (s) => {
      sandbox.nudgeProbes();
      onSocket(s);
    });
  }

  /**
   * Sandboxed processes die with the server (--die-with-parent), so a killed run leaves only
   * namespaces and secret files.
   */
  async reapOrphans(ownerId: string = this.ownerId): Promise<ReapResult> {
    const liveNames = new Set([...this.live.values()].map((r) => r.netns).concat([...this.pool.names()]));
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

  /** Removes the pooled namespaces and stops watching; live sandboxes are not stopped. */
  async close(): Promise<void> {
    await this.pool.close();
    this.watcher?.close();
    this.watcher = null;
    if (this.live.size === 0) await removeEmptySecretDirs(this.secretsRoot, this.ownerId);
  }
}

interface RoomInit {
  room: string;
  sessionId: string;
  netns: string;
  log: Logger;
  clock: Clock;
  /** The runtime's bound on concurrent namespace-helper start-ups. */
  spawns: HelperSpawnLimit;
  secrets: SessionSecrets;
  onStopped(): void;
  /** From the pool: already warm. */
  prober: NetnsProber | null;
  /** From the pool: the Room API listener, opened ahead of the session. */
  listener: Promise<Server> | null;
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
  private preopened: Promise<Server> | null;
  private lostReason: string | null = null;
  private readonly lostListeners: ((reason: string) => void)[] = [];

  constructor(i: RoomInit) {
    this.i = i;
    this.room = i.room;
    this.sessionId = i.sessionId;
    this.netns = i.netns;
    this.netnsPath = `${NETNS_DIR}/${i.netns}`;
    this.prober = i.prober ?? new NetnsProber(this.netnsPath, i.log, i.spawns);
    // Overlaps the helper's start-up with the services' launch.
    if (i.prober === null) this.prober.warm();
    this.preopened = i.listener;
  }

  /** The Room API listener opened while the namespace waited in the pool (once). */
  takePreopenedListener(port: number, host: string): Promise<Server> | null {
    if (port !== POOLED_LISTENER.port || host !== POOLED_LISTENER.host) return null;
    const l = this.preopened;
    this.preopened = null;
    return l;
  }

  onLost(fn: (reason: string) => void): void {
    if (this.lostReason !== null) fn(this.lostReason);
    else this.lostListeners.push(fn);
  }

  /** The namespace is gone from outside: no service can start here any more (once). */
  markLost(reason: string): void {
    if (this.stopping !== null || this.lostReason !== null) return;
    this.lostReason = reason;
    this.i.log.warn({ netns: this.netns }, "room namespace lost");
    for (const fn of this.lostListeners.splice(0)) {
      try {
        fn(reason);
      } catch (err) {
        this.i.log.error({ err }, "a sandbox lost listener threw");
      }
    }
  }

  get secretsDir(): string {
    return this.i.secrets.dir;
  }

  openConnector(log: Logger): ServiceConnector {
    return new NetnsConnector(this.netnsPath, log, this.i.spawns);
  }

  startService(spec: ServiceLaunchSpec): ServiceHandle {
    return startOrRestart(this.handles, spec, this, this.i.log, this.i.clock);
  }

  services(): ServiceHandle[] {
    return [...this.handles.values()];
  }

  /** A listening server on host:port in the room's namespace, opened by its probe helper. */
  listen(host: string, port: number): Promise<Server> {
    return this.prober.listen(host, port);
  }

  /** Every service's probes that have not yet succeeded check now (see ServiceSupervisor.nudgeProbes). */
  nudgeProbes(): void {
    for (const h of this.handles.values()) h.nudgeProbes();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.handles.values()].map((h) => h.stop()));
      this.prober.close();
      // A pre-opened listener nobody took must not outlive the namespace.
      (await this.preopened?.catch(() => null))?.close();
      this.preopened = null;
      await deleteNetns(this.netns).catch((err) => this.i.log.warn({ err }, "could not delete the room namespace; reapOrphans will"));
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
    if (this.lostReason !== null) throw new LaunchFailure(this.lostReason);
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
    let binds: FileBind[];
    try {
      binds = await writeFileMounts(this.i.secrets, spec);
    } catch (err) {
      throw new LaunchFailure(`could not write the file mounts' files: ${(err as Error).message}`);
    }
    args.push(...mountArgs(root, spec, binds));
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
