/**
 * One service run as a Docker container joined to the room's pause container: create,
 * follow logs, wait, signal, exec (probes), remove.
 */
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { createContainer, heldFiles, planContainer } from "./plan.ts";
import { fileMountBinds, writeFileMounts } from "../file-mounts.ts";
import { START_FILE } from "./envexec.ts";
import type { HeldContainer } from "./prepared.ts";
import type { CheckResult } from "../probes.ts";
import type { NetnsProber } from "../netns/prober.ts";
import { DockerDemuxer } from "../logs.ts";
import type { Readable } from "node:stream";
import { execProbe } from "./exec-probe.ts";
import { safeName, type SessionSecrets } from "../secrets.ts";
import { LaunchFailure, type ExitInfo, type LaunchHooks, type RunningInstance, type ServiceDriver } from "../supervisor.ts";
import type { Logger, ProbeAction, ServiceLaunchSpec } from "../types.ts";
import { DockerEngine, DockerError } from "./engine.ts";

export { LABEL } from "./plan.ts";

/**
 * Routes Docker events (see DockerRuntime's event watcher) to the run they concern: the
 * kernel's `oom` reports for a container.
 */
export interface ContainerEvents {
  onOom(containerId: string, fn: () => void): () => void;
}

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

  async launch(spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance> {
    const { docker } = this.c;
    const plan = await planContainer(docker, spec, {
      ownerId: this.c.ownerId, room: this.c.room, sessionLabel: this.c.sessionId, pauseId: this.c.pauseId,
      secretsDir: this.c.secrets.serviceDir(spec.serviceId), hold: false, fileBinds: fileMountBinds(this.c.secrets, spec),
    });
    try {
      await this.c.secrets.write(spec.serviceId, plan.files);
    } catch (err) {
      throw new LaunchFailure(`could not write secret files: ${(err as Error).message}`);
    }
    try {
      // Every run starts from the manifest's text (a writable file the last run changed is reset).
      await writeFileMounts(this.c.secrets, spec);
    } catch (err) {
      throw new LaunchFailure(`could not write the file mounts' files: ${(err as Error).message}`);
    }
    const id = await createContainer(docker, containerName(this.c.room, spec.name), spec, plan.body);
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

  /**
   * Hands a held container (docker/prepared.ts: created and started before the session,
   * blocked in its launcher) to this session: the secret files and the session's values are
   * written into its /run/secrets, then the start file, and the service's command runs.
   */
  async launchHeld(held: HeldContainer, spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance> {
    hooks.created(held.id);
    let inst: DockerInstance | null = null;
    const stopOom = this.c.events.onOom(held.id, () => {
      inst?.noteOom();
      hooks.oom?.();
    });
    try {
      await this.c.secrets.fill(spec.serviceId, heldFiles(spec), { start: START_FILE });
    } catch (err) {
      stopOom();
      held.output?.destroy();
      await this.c.docker.json({ method: "DELETE", path: `/containers/${held.id}`, query: { force: 1, v: 1 } }).catch(() => {});
      throw new LaunchFailure(`could not write secret files: ${(err as Error).message}`);
    }
    inst = new DockerInstance(this.c.docker, held.id, hooks, this.c.log, held.output, stopOom);
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

  /** A probe check: the command run in the container, killed on timeout (exec-probe.ts). */
  exec(command: string[], timeoutMs: number): Promise<CheckResult> {
    return execProbe(this.docker, this.id, command, timeoutMs, this.log);
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

export { formatSeconds } from "./exec-probe.ts";
