/**
 * One service run as a Docker container joined to the room's pause container: create,
 * follow logs, wait, signal, exec (probes), remove.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { ensureEnvexec, ENVEXEC_MOUNT, SECRET_ENV_VAR } from "./envexec.ts";
import type { CheckResult } from "../probes.ts";
import type { NetnsProber } from "../netns/prober.ts";
import { DockerDemuxer } from "../logs.ts";
import { alive, killTree } from "../proc.ts";
import type { Readable } from "node:stream";
import { safeName, SECRETS_MOUNT, type SessionSecrets } from "../secrets.ts";
import { LaunchFailure, type ExitInfo, type LaunchHooks, type RunningInstance, type ServiceDriver } from "../supervisor.ts";
import type { Logger, ProbeAction, ServiceLaunchSpec } from "../types.ts";
import { DockerEngine, DockerError } from "./engine.ts";

export const LABEL = {
  owner: "dev.roomservice.owner",
  room: "dev.roomservice.room",
  session: "dev.roomservice.session",
  service: "dev.roomservice.service",
  role: "dev.roomservice.role",
  /** On service containers: the room's pause container (the namespace holder) id. */
  pause: "dev.roomservice.pause",
  /** On pooled pause containers: the pool entry id (their room label is "" until handed out). */
  pool: "dev.roomservice.pool",
} as const;

/**
 * Routes Docker events (see DockerRuntime's event watcher) to the run they concern: the
 * kernel's `oom` reports for a container.
 */
export interface ContainerEvents {
  onOom(containerId: string, fn: () => void): () => void;
}

/** A writable /tmp even on a read-only root: most runtimes need scratch space. */
const TMP_MOUNT = { "/tmp": "rw,nosuid,nodev,size=64m" };
/** Bounded json-file logs: a chatty service must not fill the host's disk. */
const LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "2" } };
const LOG_DRAIN_MS = 2000;

export interface RoomContext {
  docker: DockerEngine;
  ownerId: string;
  room: string;
  sessionId: string;
  pauseId: string;
  secrets: SessionSecrets;
  prober: NetnsProber;
  log: Logger;
  events: ContainerEvents;
}

export function containerName(room: string, what: string): string {
  // Readable in `docker ps`, unique by a random suffix (sessions of one room can overlap while one stops).
  return `rs-${safeName(room, 24)}-${safeName(what, 24)}-${randomBytes(3).toString("hex")}`;
}

export class DockerServiceDriver implements ServiceDriver {
  private readonly c: RoomContext;

  constructor(c: RoomContext) {
    this.c = c;
  }

  netCheck(action: Exclude<ProbeAction, { kind: "exec" }>, timeoutMs: number): Promise<CheckResult> {
    return this.c.prober.check(action, timeoutMs);
  }

  release(serviceId: string): Promise<void> {
    return this.c.secrets.release(serviceId);
  }

  /**
   * For secrets wanted as env: the launcher binary, the command it execs (the image's own
   * entrypoint + command when the spec has none) and the env var naming which files to load.
   */
  private async secretEnvLauncher(spec: ServiceLaunchSpec): Promise<{ binary: string; cmd: string[]; env: Record<string, string> } | null> {
    const names = (spec.secretEnv ?? []).filter((n) => n in spec.secretFiles);
    if (names.length === 0) return null;
    const binary = await ensureEnvexec();
    if (binary === null) {
      throw new LaunchFailure("secrets requested as environment variables need the envexec launcher, which could not be compiled (install a C compiler: apt-get install gcc libc6-dev), or set roomservice.secrets.env: false to use /run/secrets files only");
    }
    let img: { Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } };
    try {
      img = await this.c.docker.json({ method: "GET", path: `/images/${encodeURIComponent(spec.image)}/json` });
    } catch (err) {
      if (err instanceof DockerError && err.status === 404) {
        throw new LaunchFailure(`image ${spec.image} not found on this Docker host (no registry is used): build it with \`roomservice image build <dir> -t ${spec.image}\``);
      }
      throw err;
    }
    const cmd = [...(img.Config?.Entrypoint ?? []), ...(spec.command ?? img.Config?.Cmd ?? [])];
    if (cmd.length === 0) throw new LaunchFailure(`image ${spec.image} has no entrypoint or command, and the manifest gives no command`);
    return { binary, cmd, env: { [SECRET_ENV_VAR]: names.join(",") } };
  }

  async launch(spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance> {
    const { docker } = this.c;
    let secretsDir: string;
    try {
      secretsDir = await this.c.secrets.write(spec.serviceId, spec.secretFiles);
    } catch (err) {
      throw new LaunchFailure(`could not write secret files: ${(err as Error).message}`);
    }
    const r = spec.resources;
    const memory = r.memoryBytes;
    const launcher = await this.secretEnvLauncher(spec);
    const pids = r.pidsLimit ?? r.pids;
    const body = {
      Image: spec.image,
      Cmd: launcher?.cmd ?? spec.command,
      ...(launcher ? { Entrypoint: [ENVEXEC_MOUNT] } : {}),
      WorkingDir: spec.workingDir,
      // tini (Init) forwards the stop signal to the command's whole process group, so programs
      // a wrapper forked get it too (manifest commands that need a shell exec their last command).
      Env: Object.entries({ ...spec.env, ...launcher?.env, TINI_KILL_PROCESS_GROUP: "1" }).map(([k, v]) => `${k}=${v}`),
      Labels: {
        [LABEL.owner]: this.c.ownerId, [LABEL.room]: this.c.room, [LABEL.session]: this.c.sessionId,
        [LABEL.service]: spec.serviceId, [LABEL.role]: "service", [LABEL.pause]: this.c.pauseId,
      },
      StopSignal: spec.stop.signal || "SIGTERM",
      HostConfig: {
        NetworkMode: `container:${this.c.pauseId}`,
        // tini as PID 1 forwards the stop signal; without it node as PID 1 ignores SIGTERM.
        Init: true,
        ReadonlyRootfs: !spec.writableRootFs,
        Tmpfs: TMP_MOUNT,
        Mounts: [
          ...spec.mounts.map((m) => ({ Type: "bind", Source: m.hostPath, Target: m.containerPath, ReadOnly: m.readOnly })),
          { Type: "bind", Source: secretsDir, Target: SECRETS_MOUNT, ReadOnly: true },
          ...(launcher ? [{ Type: "bind", Source: launcher.binary, Target: ENVEXEC_MOUNT, ReadOnly: true }] : []),
        ],
        Memory: memory,
        // Same as Memory: no swap, so a memory hog is OOM-killed (and reported) instead of thrashing.
        MemorySwap: memory,
        NanoCpus: r.nanoCpus,
        PidsLimit: pids,
        SecurityOpt: ["no-new-privileges:true"],
        LogConfig: LOG_CONFIG,
      },
    };
    let id: string;
    try {
      ({ Id: id } = await docker.json<{ Id: string }>({
        method: "POST", path: "/containers/create", query: { name: containerName(this.c.room, spec.name) }, body,
      }));
    } catch (err) {
      if (err instanceof DockerError && err.status === 404) {
        throw new LaunchFailure(`image ${spec.image} not found on this Docker host (no registry is used): build it with \`roomservice image build <dir> -t ${spec.image}\``);
      }
      if (err instanceof DockerError && err.status === 400) throw new LaunchFailure(`Docker rejected the container config: ${err.message}`);
      throw err;
    }
    hooks.created(id);
    // Attached before the start, so the first bytes are not missed; the logs endpoint is the
    // fallback (it reads the json-file log back, with its 16 KiB line cuts).
    const output = await docker.attach(id).catch((err: unknown) => {
      this.c.log.debug({ err, container: id }, "attach failed; following the log instead");
      return null;
    });
    let inst: DockerInstance | null = null;
    const stopOom = this.c.events.onOom(id, () => {
      inst?.noteOom();
      hooks.oom?.();
    });
    try {
      await docker.json({ method: "POST", path: `/containers/${id}/start` });
    } catch (err) {
      stopOom();
      output?.destroy();
      await docker.json({ method: "DELETE", path: `/containers/${id}`, query: { force: 1, v: 1 } }).catch(() => {});
      const msg = (err as Error).message;
      const hint = /executable file not found|no such file or directory/.test(msg)
        ? " — the command is not in the image (images built FROM roomservice/node:24 have no shell: use exec form)"
        : "";
      throw new LaunchFailure(`container failed to start: ${msg}${hint}`);
    }
    inst = new DockerInstance(docker, id, hooks, this.c.log, output, stopOom);
    return inst;
  }
}

/** True when the kernel log records an OOM kill in this container's memory cgroup. */
function kernelReportsOom(containerId: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile("dmesg", [], { maxBuffer: 8 * 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve(false);
      // cgroup v1: oom_memcg=/docker/<id>; cgroup v2 (systemd driver): .../docker-<id>.scope
      resolve(stdout.includes(`oom_memcg=/docker/${containerId}`) || stdout.includes(`docker-${containerId}.scope`));
    });
  });
}

/** How long a timed-out exec probe may take to die after SIGKILL before the next check goes ahead anyway. */
const EXEC_KILL_WAIT_MS = 5000;
const EXEC_OUTPUT_MAX = 64 * 1024;

class DockerInstance implements RunningInstance {
  readonly id: string;
  readonly exited: Promise<ExitInfo>;
  private readonly docker: DockerEngine;
  private readonly logsDone: Promise<void>;
  private readonly log: Logger;
  private readonly stopOom: () => void;
  private ended = false;
  private sentKill = false;
  private oomReported = false;

  constructor(docker: DockerEngine, id: string, hooks: LaunchHooks, log: Logger, output: Readable | null, stopOom: () => void) {
    this.docker = docker;
    this.id = id;
    this.log = log.child({ container: id.slice(0, 12) });
    this.stopOom = stopOom;
    this.logsDone = this.followOutput(hooks, output);
    this.exited = this.waitExit();
  }

  async running(): Promise<boolean> {
    if (this.ended) return false;
    const info = await this.docker.json<{ State: { Running: boolean } }>({ method: "GET", path: `/containers/${this.id}/json` });
    return info.State.Running;
  }

  /** OOM reports for this run also settle how it ended (Docker may not set State.OOMKilled). */
  noteOom(): void {
    this.oomReported = true;
  }

  private async followOutput(hooks: LaunchHooks, attached: Readable | null): Promise<void> {
    try {
      // Without the attach stream: follow the json-file log from the beginning.
      const res = attached ?? (await this.docker.raw({
        method: "GET", path: `/containers/${this.id}/logs`, query: { follow: 1, stdout: 1, stderr: 1 }, long: true,
      }));
      const demux = new DockerDemuxer((stream, payload) => hooks.output(stream, payload));
      for await (const chunk of res) demux.push(chunk as Buffer);
    } catch (err) {
      if (!(err instanceof DockerError && err.status === 404)) this.log.debug({ err }, "output stream ended with an error");
    } finally {
      // The last line without a newline is emitted now, not lost.
      hooks.outputEnd("stdout");
      hooks.outputEnd("stderr");
    }
  }

  private async waitExit(): Promise<ExitInfo> {
    let exitCode = -1;
    try {
      const r = await this.docker.json<{ StatusCode: number }>({
        method: "POST", path: `/containers/${this.id}/wait`, query: { condition: "not-running" }, long: true,
      });
      exitCode = r.StatusCode;
    } catch (err) {
      this.log.warn({ err }, "waiting for the container failed; treating it as exited");
    }
    let oomKilled = false;
    // Docker learns of an OOM kill from a separate cgroup event that can arrive after the exit,
    // so an unexplained SIGKILL (137) is re-inspected a few times before it counts as a signal.
    for (let attempt = 0; attempt < 6; attempt++) {
      try {
        const info = await this.docker.json<{ State: { OOMKilled: boolean; ExitCode: number } }>({ method: "GET", path: `/containers/${this.id}/json` });
        oomKilled = info.State.OOMKilled || (this.oomReported && info.State.ExitCode === 137);
        if (exitCode === -1) exitCode = info.State.ExitCode;
      } catch {
        break; // removed underneath us (e.g. by an operator): the wait result is all there is
      }
      if (oomKilled || exitCode !== 137 || this.sentKill) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // With Init (tini as PID 1) the OOM killer hits a child, and Docker sometimes never sets
    // OOMKilled. The kernel's own record names the container's memory cgroup: ask it.
    if (!oomKilled && exitCode === 137 && !this.sentKill) oomKilled = await kernelReportsOom(this.id);
    this.ended = true;
    this.stopOom();
    return { exitCode, oomKilled };
  }

  async signal(sig: string): Promise<void> {
    if (this.ended) return;
    if (sig === "SIGKILL" || sig === "KILL" || sig === "9") this.sentKill = true;
    try {
      await this.docker.json({ method: "POST", path: `/containers/${this.id}/kill`, query: { signal: sig } });
    } catch (err) {
      // 409: not running any more — fine, the wait will report the exit.
      if (!(err instanceof DockerError && (err.status === 409 || err.status === 404))) this.log.warn({ err, signal: sig }, "could not signal container");
    }
  }

  /**
   * Runs a probe command. On timeout the command and everything it forked are killed (Docker
   * has no API for that: the exec's host pid and its descendants get SIGKILL), and this only
   * returns once they are gone, so probes never pile up in the container.
   */
  async exec(command: string[], timeoutMs: number): Promise<CheckResult> {
    let execId: string;
    try {
      ({ Id: execId } = await this.docker.json<{ Id: string }>({
        method: "POST", path: `/containers/${this.id}/exec`, body: { Cmd: command, AttachStdout: true, AttachStderr: true },
      }));
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    let res: Readable | null = null;
    let started = false; // Docker answered the start: the process exists (or already ended)
    try {
      const run = (async () => {
        try {
          res = await this.docker.raw({ method: "POST", path: `/exec/${execId}/start`, body: { Detach: false, Tty: false }, long: true });
        } finally {
          started = true;
        }
        return readCapped(res, EXEC_OUTPUT_MAX);
      })();
      run.catch(() => undefined);
      const first = await Promise.race([run, timedOut]);
      if (first === "timeout") {
        await this.killExec(execId, () => started);
        (res as Readable | null)?.destroy();
        return { ok: false, error: `timed out after ${formatSeconds(timeoutMs)}` };
      }
      const info = await this.docker.json<{ ExitCode: number | null }>({ method: "GET", path: `/exec/${execId}/json` });
      if (info.ExitCode === 0) return { ok: true };
      return { ok: false, error: `command exited with ${info.ExitCode}${first.length > 0 ? `: ${demuxText(first).slice(-200)}` : ""}` };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * SIGKILL to the exec's process tree; waits (bounded) until Docker sees it ended. A start
   * still in flight is waited for: a process started after we gave up would run unwatched.
   */
  private async killExec(execId: string, started: () => boolean): Promise<void> {
    const deadline = Date.now() + EXEC_KILL_WAIT_MS;
    for (;;) {
      let info: { Running: boolean; Pid: number };
      try {
        info = await this.docker.json<{ Running: boolean; Pid: number }>({ method: "GET", path: `/exec/${execId}/json` });
      } catch {
        return; // the container (and the exec) is gone
      }
      if (!info.Running || info.Pid <= 0) {
        if (started()) return;
      } else if (alive(info.Pid)) killTree(info.Pid, "SIGKILL");
      if (Date.now() > deadline) {
        this.log.warn({ pid: info.Pid }, "a timed-out probe command did not end after SIGKILL");
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async remove(): Promise<void> {
    // Let the output stream deliver the last lines before the container goes away.
    await Promise.race([this.logsDone, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
    try {
      await this.docker.json({ method: "DELETE", path: `/containers/${this.id}`, query: { force: 1, v: 1 } });
    } catch (err) {
      if (!(err instanceof DockerError && err.status === 404)) throw err;
    }
  }
}

/** "1 s", "0.5 s": probe timeouts are configured in seconds. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** Reads a stream to its end, keeping at most `max` bytes (the rest is discarded, not buffered). */
function readCapped(s: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    s.on("data", (c: Buffer) => {
      if (size >= max) return;
      chunks.push(c.subarray(0, max - size));
      size += Math.min(c.length, max - size);
    });
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("close", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

function demuxText(buf: Buffer): string {
  let text = "";
  new DockerDemuxer((_s, p) => (text += p.toString("utf8"))).push(buf);
  return text.trim();
}
