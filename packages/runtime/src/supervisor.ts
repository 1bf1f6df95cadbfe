/**
 * One service's lifecycle, independent of how containers are made: launch, probes, exit
 * handling, restart with exponential backoff, graceful stop. A runtime supplies a
 * `ServiceDriver` (docker: Engine API containers; sandbox: bubblewrap processes) and gets
 * MeshAgent-shaped state, events and logs from this class.
 */
import { EventEmitter } from "node:events";
import { makeMasker, secretsToMask } from "./logs.ts";
import { ProbeSet, type CheckResult } from "./probes.ts";
import type {
  Clock, EventReason, Logger, ProbeAction, ServiceEvent, ServiceHandle, ServiceHandleEvents, ServiceLaunchSpec,
  ServiceRuntimeState, ServiceStateName, StopResult,
} from "./types.ts";

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
}

/** A started process/container. */
export interface RunningInstance {
  readonly id: string;
  /** Settles once the process has ended (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** Best effort: a no-op once the process has ended. */
  signal(sig: string): Promise<void>;
  exec(command: string[], timeoutMs: number): Promise<CheckResult>;
  /** Frees what the run used (the container); waits briefly for remaining log lines. */
  remove(): Promise<void>;
}

export interface LaunchHooks {
  created(id: string): void;
  log(stream: "stdout" | "stderr", line: string): void;
}

export interface ServiceDriver {
  /** Creates and starts a run. Throws LaunchFailure (or any error) when it cannot start. */
  launch(spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance>;
  /** HTTP/TCP check against the room's 127.0.0.1. */
  netCheck(action: Exclude<ProbeAction, { kind: "exec" }>, timeoutMs: number): Promise<CheckResult>;
  /** Frees per-service resources kept across runs (the secrets directory). */
  release(serviceId: string): Promise<void>;
}

/** A launch that failed for a reason the user must fix; `message` says how. */
export class LaunchFailure extends Error {
  override name = "LaunchFailure";
}

const MAX_EVENTS = 100;
const WARNING_REASONS: ReadonlySet<EventReason> = new Set(["Unhealthy", "BackOff", "OOMKilled", "FailedStart"]);

export function stopResultOf(e: ExitInfo): StopResult {
  // Init (tini) reports a child killed by signal N as exit 128+N.
  const reason = e.oomKilled ? "oom" : e.exitCode > 128 && e.exitCode <= 128 + 64 ? "signal" : "exit";
  return { exitCode: e.exitCode, reason };
}

/**
 * A room sandbox's startService, shared by both runtimes: one supervisor per service id; the
 * same service started again gets the new spec (a restart) instead of a second copy.
 */
export function startOrRestart(
  handles: Map<string, ServiceSupervisor>, spec: ServiceLaunchSpec, driver: ServiceDriver, log: Logger, clock: Clock,
): ServiceSupervisor {
  const existing = handles.get(spec.serviceId);
  if (existing !== undefined) {
    existing.restart(spec).catch((err) => log.warn({ err, service: spec.serviceId }, "restart failed"));
    return existing;
  }
  const sup = new ServiceSupervisor(spec, driver, log, clock);
  handles.set(spec.serviceId, sup);
  sup.start();
  return sup;
}

export class ServiceSupervisor implements ServiceHandle {
  readonly serviceId: string;
  private spec: ServiceLaunchSpec;
  private readonly driver: ServiceDriver;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly emitter = new EventEmitter();
  private readonly st: ServiceRuntimeState;
  private mask: (line: string) => string;

  private loopDone: Promise<void> = Promise.resolve();
  private stopping: Promise<StopResult | null> | null = null;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  private launching: Promise<RunningInstance | null> | null = null;
  private current: RunningInstance | null = null;
  private currentExit: ExitInfo | null = null;
  private probes: ProbeSet | null = null;
  private killReason: string | null = null;
  private failures = 0;
  private lastStop: StopResult | null = null;

  constructor(spec: ServiceLaunchSpec, driver: ServiceDriver, log: Logger, clock: Clock) {
    this.serviceId = spec.serviceId;
    this.spec = spec;
    this.driver = driver;
    this.log = log.child({ service: spec.serviceId, serviceName: spec.name });
    this.clock = clock;
    this.mask = makeMasker(secretsToMask(spec));
    this.st = {
      service_id: spec.serviceId, state: "pending", container_id: null, started_at: null, restart_count: 0,
      restart_scheduled_at: null, last_exit_code: null, last_exit_at: null, last_start_error: null,
      ports: spec.ports.map((p) => ({ num: p.num, liveness_status: p.livenessPath ? "not_ready" : "not_configured", last_checked_at: null, last_error: null })),
      events: [],
    };
  }

  // ---- ServiceHandle ----

  status(): ServiceRuntimeState {
    return structuredClone({ ...this.st, ports: this.probes?.ports ?? this.st.ports });
  }

  on<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void {
    this.emitter.on(event, fn);
  }

  off<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void {
    this.emitter.off(event, fn);
  }

  /** Begins the lifecycle (called by the sandbox right after construction). */
  start(): void {
    this.stopRequested = false;
    this.loopDone = this.loop().catch((err) => {
      this.log.error({ err }, "service supervisor failed");
      this.startFailed(`internal error: ${(err as Error).message}`);
    });
  }

  async stop(): Promise<void> {
    this.stopping ??= this.doStop();
    await this.stopping;
  }

  lastExit(): StopResult | null {
    return this.lastStop;
  }

  async restart(spec?: ServiceLaunchSpec): Promise<void> {
    await this.stop();
    if (spec !== undefined) {
      if (spec.serviceId !== this.serviceId) throw new Error(`restart with a spec for ${spec.serviceId} on service ${this.serviceId}`);
      this.spec = spec;
      this.mask = makeMasker(secretsToMask(spec));
    }
    this.stopping = null;
    this.failures = 0;
    this.st.restart_count++;
    this.st.last_start_error = null;
    this.start();
  }

  // ---- lifecycle ----

  private async loop(): Promise<void> {
    while (!this.stopRequested) {
      this.setState("pending");
      this.killReason = null;
      this.currentExit = null;
      this.launching = this.launchOnce();
      const inst = await this.launching;
      this.launching = null;
      if (inst === null) return; // FailedStart recorded
      this.current = inst;
      const startedAt = this.clock.now();
      this.st.started_at = startedAt;
      this.st.container_id = inst.id;
      this.event("Started", `Started container ${inst.id.slice(0, 12)}`);
      this.setState("starting");
      this.startProbes(inst);

      const exit = await inst.exited;
      this.currentExit = exit;
      this.probes?.stop();
      const now = this.clock.now();
      const result = stopResultOf(exit);
      this.lastStop = result;
      this.st.last_exit_code = exit.exitCode;
      this.st.last_exit_at = now;
      if (result.reason === "oom") this.event("OOMKilled", `Container was killed for exceeding its memory limit (exit code ${exit.exitCode})`);
      else this.event("Exited", `Container exited with code ${exit.exitCode}${result.reason === "signal" ? ` (signal ${exit.exitCode - 128})` : ""}`, exit.exitCode === 0 || this.stopRequested ? "Normal" : "Warning");
      this.emit("exit", { ...result, serviceId: this.serviceId, containerId: inst.id });
      await inst.remove().catch((err) => this.log.warn({ err, container: inst.id }, "could not remove container"));
      this.current = null;
      if (this.stopRequested) return;

      const failed = exit.exitCode !== 0 || result.reason === "oom" || this.killReason !== null;
      const policy = this.spec.restart.policy;
      if (policy === "never" || (policy === "on-failure" && !failed)) {
        this.setState("exited");
        return;
      }
      // A run that stayed up long enough counts as healthy: the backoff starts over.
      if (now - startedAt >= this.spec.restart.resetAfterMs) this.failures = 0;
      this.failures++;
      const { initialBackoffMs, maxBackoffMs } = this.spec.restart;
      const delay = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(this.failures - 1, 30));
      this.st.restart_scheduled_at = now + delay;
      this.event("BackOff", `Back-off ${formatMs(delay)} restarting ${failed ? "failed " : ""}container`);
      this.setState("backoff");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = null;
      this.st.restart_scheduled_at = null;
      if (this.stopRequested) return;
      this.st.restart_count++;
    }
  }

  private async launchOnce(): Promise<RunningInstance | null> {
    try {
      const inst = await this.driver.launch(this.spec, {
        created: (id) => {
          this.st.container_id = id;
          this.event("Created", `Created container ${id.slice(0, 12)} from ${this.spec.image}`);
        },
        log: (stream, line) => this.emitLog(stream, line),
      });
      this.st.last_start_error = null;
      return inst;
    } catch (err) {
      const message = err instanceof LaunchFailure ? err.message : `could not start container: ${(err as Error).message}`;
      if (!(err instanceof LaunchFailure)) this.log.warn({ err }, "service launch failed");
      this.startFailed(message);
      return null;
    }
  }

  private startFailed(message: string): void {
    this.st.last_start_error = message;
    this.st.container_id = null;
    this.event("FailedStart", message);
    this.setState("failed");
  }

  private startProbes(inst: RunningInstance): void {
    const probes = new ProbeSet(
      { ports: this.spec.ports, probes: this.spec.probes ?? {} },
      (action, timeoutMs) => (action.kind === "exec" ? inst.exec(action.command, timeoutMs) : this.driver.netCheck(action, timeoutMs)),
      {
        now: () => this.clock.now(),
        changed: () => this.readinessChanged(probes),
        unhealthy: (message) => this.event("Unhealthy", message),
        kill: (message) => void this.killForHealth(inst, message),
      },
    );
    this.probes = probes;
    probes.start();
  }

  private readinessChanged(probes: ProbeSet): void {
    if (this.probes !== probes) return;
    const st = this.st.state;
    if (st !== "starting" && st !== "running" && st !== "unhealthy") {
      this.emitState();
      return;
    }
    if (probes.ready && st !== "running") {
      this.event("Ready", "Service is ready");
      this.setState("running");
    } else if (!probes.ready && st === "running") this.setState("unhealthy");
    else this.emitState(); // a port's status changed
  }

  private async killForHealth(inst: RunningInstance, message: string): Promise<void> {
    if (this.current !== inst || this.killReason !== null || this.stopRequested) return;
    this.killReason = message;
    this.event("Killing", message);
    await this.terminate(inst);
  }

  /** Stop signal, grace period, SIGKILL; resolves when the process has ended. */
  private async terminate(inst: RunningInstance): Promise<ExitInfo> {
    const { signal, gracePeriodMs } = this.spec.stop;
    await inst.signal(signal || "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), gracePeriodMs)));
    const first = await Promise.race([inst.exited, graceOver]);
    clearTimeout(timer);
    if (first === "timeout") {
      this.log.info({ container: inst.id, gracePeriodMs }, "grace period over; sending SIGKILL");
      await inst.signal("SIGKILL");
    }
    return inst.exited;
  }

  private async doStop(): Promise<StopResult | null> {
    this.stopRequested = true;
    this.wake?.();
    const inst = this.current ?? (this.launching !== null ? await this.launching : null);
    let result: StopResult | null = null;
    if (inst !== null && this.currentExit === null) {
      this.setState("stopping");
      this.event("Killing", `Stopping container ${inst.id.slice(0, 12)}`);
      result = stopResultOf(await this.terminate(inst));
      this.lastStop = result;
    }
    await this.loopDone;
    await this.driver.release(this.serviceId).catch((err) => this.log.warn({ err }, "could not release service resources"));
    if (this.st.state !== "failed") this.setState("stopped");
    return result ?? (inst !== null ? this.lastStop : null);
  }

  // ---- state, events, logs ----

  private setState(s: ServiceStateName): void {
    if (this.st.state === s) return;
    this.st.state = s;
    this.emitState();
  }

  /** Listeners are the server's; one throwing must not break the lifecycle. */
  private emit(name: keyof ServiceHandleEvents, payload: unknown): void {
    try {
      this.emitter.emit(name, payload);
    } catch (err) {
      this.log.error({ err, listener: name }, "a service listener threw");
    }
  }

  private emitState(): void {
    this.emit("state", this.status());
  }

  private event(reason: EventReason, message: string, type?: "Normal" | "Warning"): void {
    const now = this.clock.now();
    const t = type ?? (WARNING_REASONS.has(reason) ? "Warning" : "Normal");
    // Deduplicated by reason + message, as Kubernetes does, so a crash loop stays readable.
    let e = this.st.events.find((x) => x.reason === reason && x.message === message && x.type === t);
    if (e !== undefined) {
      e.count++;
      e.last_timestamp = now;
    } else {
      e = { type: t, reason, message, count: 1, first_timestamp: now, last_timestamp: now };
      this.st.events.push(e);
      if (this.st.events.length > MAX_EVENTS) this.st.events.shift();
    }
    (t === "Warning" ? this.log.warn : this.log.info).call(this.log, { reason, event: message }, "service event");
    this.emit("event", { ...e, serviceId: this.serviceId } satisfies ServiceEvent & { serviceId: string });
    this.emitState();
  }

  private emitLog(stream: "stdout" | "stderr", line: string): void {
    this.emit("log", { serviceId: this.serviceId, stream, line: this.mask(line), timestamp: this.clock.now() });
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
