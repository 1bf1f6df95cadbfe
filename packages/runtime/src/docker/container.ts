/**
 * One service run as a Docker container joined to the room's pause container: create,
 * follow logs, wait, signal, exec (probes), remove.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { ensureEnvexec, ENVEXEC_MOUNT, SECRET_ENV_VAR } from "./envexec.ts";
import type { CheckResult } from "../probes.ts";
import type { NetnsProber } from "../netns/prober.ts";
import { DockerDemuxer, LineSplitter } from "../logs.ts";
import { safeName, SECRETS_MOUNT, type SessionSecrets } from "../secrets.ts";
import { LaunchFailure, type ExitInfo, type LaunchHooks, type RunningInstance, type ServiceDriver } from "../supervisor.ts";
import type { Logger, ProbeAction, ServiceLaunchSpec } from "../types.ts";
import { DockerEngine, DockerError, readAll } from "./engine.ts";

export const LABEL = {
  owner: "dev.roomservice.owner",
  room: "dev.roomservice.room",
  session: "dev.roomservice.session",
  service: "dev.roomservice.service",
  role: "dev.roomservice.role",
} as const;

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
      Env: Object.entries({ ...spec.env, ...launcher?.env }).map(([k, v]) => `${k}=${v}`),
      Labels: {
        [LABEL.owner]: this.c.ownerId, [LABEL.room]: this.c.room, [LABEL.session]: this.c.sessionId,
        [LABEL.service]: spec.serviceId, [LABEL.role]: "service",
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
    try {
      await docker.json({ method: "POST", path: `/containers/${id}/start` });
    } catch (err) {
      await docker.json({ method: "DELETE", path: `/containers/${id}`, query: { force: 1, v: 1 } }).catch(() => {});
      const msg = (err as Error).message;
      const hint = /executable file not found|no such file or directory/.test(msg)
        ? " — the command is not in the image (images built FROM roomservice/node:24 have no shell: use exec form)"
        : "";
      throw new LaunchFailure(`container failed to start: ${msg}${hint}`);
    }
    return new DockerInstance(docker, id, hooks, this.c.log);
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

class DockerInstance implements RunningInstance {
  readonly id: string;
  readonly exited: Promise<ExitInfo>;
  private readonly docker: DockerEngine;
  private readonly logsDone: Promise<void>;
  private readonly log: Logger;
  private ended = false;
  private sentKill = false;

  constructor(docker: DockerEngine, id: string, hooks: LaunchHooks, log: Logger) {
    this.docker = docker;
    this.id = id;
    this.log = log.child({ container: id.slice(0, 12) });
    this.logsDone = this.followLogs(hooks);
    this.exited = this.waitExit();
  }

  private async followLogs(hooks: LaunchHooks): Promise<void> {
    try {
      // follow from the beginning: the json-file log holds what was printed before we attached.
      const res = await this.docker.raw({
        method: "GET", path: `/containers/${this.id}/logs`, query: { follow: 1, stdout: 1, stderr: 1 }, long: true,
      });
      const out = new LineSplitter((l) => hooks.log("stdout", l));
      const err = new LineSplitter((l) => hooks.log("stderr", l));
      const demux = new DockerDemuxer((stream, payload) => (stream === "stdout" ? out : err).push(payload));
      for await (const chunk of res) demux.push(chunk as Buffer);
      out.flush();
      err.flush();
    } catch (err) {
      if (!(err instanceof DockerError && err.status === 404)) this.log.debug({ err }, "log stream ended with an error");
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
        oomKilled = info.State.OOMKilled;
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

  async exec(command: string[], timeoutMs: number): Promise<CheckResult> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      const { Id } = await this.docker.json<{ Id: string }>({
        method: "POST", path: `/containers/${this.id}/exec`, body: { Cmd: command, AttachStdout: true, AttachStderr: true }, signal: ctl.signal,
      });
      const res = await this.docker.raw({ method: "POST", path: `/exec/${Id}/start`, body: { Detach: false, Tty: false }, signal: ctl.signal, long: true });
      const output = (await readAll(res)).subarray(0, 64 * 1024);
      const info = await this.docker.json<{ ExitCode: number | null }>({ method: "GET", path: `/exec/${Id}/json` });
      if (info.ExitCode === 0) return { ok: true };
      return { ok: false, error: `command exited with ${info.ExitCode}${output.length > 0 ? `: ${demuxText(output).slice(-200)}` : ""}` };
    } catch (err) {
      return { ok: false, error: ctl.signal.aborted ? `timed out after ${timeoutMs} ms` : (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  async remove(): Promise<void> {
    // Let the log stream deliver the last lines before the container (and its log) goes away.
    await Promise.race([this.logsDone, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
    try {
      await this.docker.json({ method: "DELETE", path: `/containers/${this.id}`, query: { force: 1, v: 1 } });
    } catch (err) {
      if (!(err instanceof DockerError && err.status === 404)) throw err;
    }
  }
}

function demuxText(buf: Buffer): string {
  let text = "";
  new DockerDemuxer((_s, p) => (text += p.toString("utf8"))).push(buf);
  return text.trim();
}
