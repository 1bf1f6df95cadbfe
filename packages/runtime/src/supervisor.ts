/**
 * One service's lifecycle, independent of how containers are made: launch, probes, exit
 * handling, restart with exponential backoff, graceful stop. A runtime supplies a
 * `ServiceDriver` (docker: Engine API containers; sandbox: bubblewrap processes) and gets
 * MeshAgent-shaped state, events and logs from this class.
 */
import { EventEmitter } from "node:events";
import { LineSplitter, maskSpec, secretsToMask, type MaskSpec } from "./logs.ts";
import { ProbeSet, sleep, type CheckResult } from "./probes.ts";
import type {
  Clock, EventReason, Logger, ProbeAction, ServiceEvent, ServiceHandle, ServiceHandleEvents, ServiceLaunchSpec,
  ServiceRuntimeState, ServiceStateName, StopOptions, StopResult,
} from "./types.ts";
import { ServiceEventLog } from "./service-events.ts";

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
  /** Whether the process still runs, asked of the runtime (not yet reflected in `exited`). */
  running?(): Promise<boolean>;
}

/**
 * What a driver reports about a run while launching and running it. Output is raw bytes: the
 * supervisor decodes, masks and splits it (one place for the UTF-8, masking and line rules).
 */
export interface LaunchHooks {
  created(id: string): void;
  /** Bytes the process wrote; chunks may split lines and UTF-8 sequences anywhere. */
  output(stream: "stdout" | "stderr", chunk: Uint8Array): void;
  /** The stream ended: the unterminated last line (if any) is emitted now. Idempotent. */
  outputEnd(stream: "stdout" | "stderr"): void;
  /** The kernel OOM-killed a process of this run (which may have survived it: a child died). */
  oom?(): void;
}

export interface ServiceDriver {
  /** Creates and starts a run. Throws LaunchFailure (or any error) when it cannot start. */
  launch(spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance>;
  /** HTTP/TCP check against the room's 127.0.0.1. */
  netCheck(action: Exclude<ProbeAction, { kind: "exec" }>, timeoutMs: number): Promise<CheckResult>;
  /** Frees per-service resources kept across runs (the secrets directory). */
  release(serviceId: string): Promise<void>;
}

/**
 * A launch that failed for a reason the user must fix; `message` says how. Failed starts are
 * retried with the restart backoff (an image built later, a namespace rebuilt) unless
 * `retry` is false (the session has ended: nothing will ever make it work).
 */
export class LaunchFailure extends Error {
  override name = "LaunchFailure";
  readonly retry: boolean;
  constructor(message: string, o: { retry?: boolean } = {}) {
    super(message);
    this.retry = o.retry ?? true;
  }
}

/** Delay before restart number `failures` (1-based): initial × 2^(n-1), capped. */
export function backoffDelay(restart: { initialBackoffMs: number; maxBackoffMs: number }, failures: number): number {
  return Math.min(restart.maxBackoffMs, restart.initialBackoffMs * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
}

/** Finds who else in the room listens on a port (for "port already in use" messages). */
export type PortHolderLookup = (port: number, serviceId: string) => string | null;

/**
 * `port` described for a message: "the Room API" for 8078, `service "web"` when another
 * service of the room declares it, else null (an undeclared listener).
 */
export function describePortHolder(handles: Map<string, ServiceSupervisor>, roomApiPort: number): PortHolderLookup {
  return (port, serviceId) => {
    if (port === roomApiPort) return "the Room API";
    for (const h of handles.values()) {
      if (h.serviceId !== serviceId && h.currentSpec.ports.some((p) => p.num === port)) return `service ${JSON.stringify(h.currentSpec.name)}`;
    }
    return null;
  };
}

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
  const sup = new ServiceSupervisor(spec, driver, log, clock, describePortHolder(handles, 8078));
  handles.set(spec.serviceId, sup);
  sup.start();
  return sup;
}

/** How long after an `oom` report a still-running container counts as "a child was killed". */
const OOM_SETTLE_MS = 1000;
/** Recent output lines kept per run, to explain an exit ("address already in use"). */
const RECENT_LINES = 20;
const ADDRESS_IN_USE = /EADDRINUSE|address already in use/i;

export class ServiceSupervisor implements ServiceHandle {
  readonly serviceId: string;
  private spec: ServiceLaunchSpec;
  private readonly driver: ServiceDriver;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly portHolder: PortHolderLookup;
  private readonly emitter = new EventEmitter();
  /** The state but its events (which `eventLog` keeps as immutable snapshots). */
  private readonly st: Omit<ServiceRuntimeState, "events">;
  private readonly eventLog = new ServiceEventLog();
  private masking: MaskSpec;

  /**
   * The last word of the caller: `restart()` asks for "run", `stop()` for "stop". A restart
   * whose stop phase overlaps a `stop()` call does not start again.
   */
  private intent: "run" | "stop" = "run";
  /** The restart in progress; a second call joins it (single flight; the newest spec wins). */
  private restarting: { spec: ServiceLaunchSpec | undefined; done: Promise<void> } | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private halting: Promise<StopResult | null> | null = null;
  private stopRequested = false;
  /** stop({ kill: true }) was asked: no grace period from now on (see StopOptions). */
  private killNow = false;
  private wake: (() => void) | null = null;
  private launching: Promise<RunningInstance | null> | null = null;
  private current: RunningInstance | null = null;
  private currentExit: ExitInfo | null = null;
  private probes: ProbeSet | null = null;
  private killReason: string | null = null;
  private failures = 0;
  private lastStop: StopResult | null = null;
  private recentLines: string[] = [];
  /** The current run's output splitters (masking, line cutting). */
  private splitters: { stdout: LineSplitter; stderr: LineSplitter } | null = null;
  /** False after a failed start that nothing can fix (the session ended). */
  private retryStart = true;

  constructor(spec: ServiceLaunchSpec, driver: ServiceDriver, log: Logger, clock: Clock, portHolder: PortHolderLookup = () => null) {
    this.serviceId = spec.serviceId;
    this.spec = spec;
    this.driver = driver;
    this.log = log.child({ service: spec.serviceId, serviceName: spec.name });
    this.clock = clock;
    this.portHolder = portHolder;
    this.masking = maskSpec(secretsToMask(spec));
    this.st = {
      service_id: spec.serviceId, state: "pending", container_id: null, started_at: null, restart_count: 0,
      restart_scheduled_at: null, last_exit_code: null, last_exit_at: null, last_start_error: null,
      ports: spec.ports.map((p) => ({ num: p.num, liveness_status: p.livenessPath ? "not_ready" : "not_configured", last_checked_at: null, last_error: null })),
    };
  }

  /** The spec the service runs (or will run) with. */
  get currentSpec(): ServiceLaunchSpec {
    return this.spec;
  }

  // ---- ServiceHandle ----

  /**
   * A snapshot the caller may keep: fields and ports are copied (a handful of numbers; the
   * probes update ports in place), the events are the log's frozen list, shared, not cloned —
   * this runs on every state change, for every listener, and on every REST/SSE read.
   */
  status(): ServiceRuntimeState {
    const ports = this.probes?.ports ?? this.st.ports;
    return { ...this.st, ports: ports.map((p) => ({ ...p })), events: this.eventLog.list };
  }

  on<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void {
    this.emitter.on(event, fn);
  }

  off<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void {
    this.emitter.off(event, fn);
  }

  /**
   * A hint that the service may have become ready (a process of its room connected to the
   * Room API): probes that have not yet succeeded check now (ProbeSet.nudge).
   */
  nudgeProbes(): void {
    this.probes?.nudge();
  }

  /** Begins the lifecycle (called by the sandbox right after construction). */
  start(): void {
    this.stopRequested = false;
    this.killNow = false;
    this.halting = null;
    this.loopDone = this.loop().catch((err) => {
      this.log.error({ err }, "service supervisor failed");
      this.startFailed(`internal error: ${(err as Error).message}`);
    });
  }

  async stop(o: StopOptions = {}): Promise<void> {
    this.intent = "stop";
    if (o.kill === true && !this.killNow) {
      this.killNow = true;
      // A stop already in its grace period ends now too.
      if (this.current !== null && this.currentExit === null) await this.current.signal("SIGKILL").catch(() => undefined);
    }
    await this.halt();
  }

  lastExit(): StopResult | null {
    return this.lastStop;
  }

  /**
   * Stops the current run and starts again (with `spec` if given). Single flight: calls that
   * overlap share one stop and one start, with the newest spec; a `stop()` that overlaps wins.
   */
  restart(spec?: ServiceLaunchSpec): Promise<void> {
    if (spec !== undefined && spec.serviceId !== this.serviceId) {
      return Promise.reject(new Error(`restart with a spec for ${spec.serviceId} on service ${this.serviceId}`));
    }
    this.intent = "run";
    if (this.restarting !== null) {
      if (spec !== undefined) this.restarting.spec = spec;
      return this.restarting.done;
    }
    const r: { spec: ServiceLaunchSpec | undefined; done: Promise<void> } = { spec, done: Promise.resolve() };
    this.restarting = r;
    r.done = (async () => {
      try {
        await this.halt();
      } finally {
        this.restarting = null;
      }
      if (this.intent === "stop") return;
      if (r.spec !== undefined) {
        this.spec = r.spec;
        this.masking = maskSpec(secretsToMask(r.spec));
      }
      this.failures = 0;
      this.st.restart_count++;
      this.st.last_start_error = null;
      this.start();
    })();
    return r.done;
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
      if (inst === null) {
        // FailedStart recorded; retried with backoff unless the failure is final.
        if (this.st.state === "failed" && this.retryStart && !this.stopRequested) {
          if (!(await this.backoff(this.clock.now(), this.clock.now(), "retrying failed start", true))) return;
          continue;
        }
        return;
      }
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
      const failed = exit.exitCode !== 0 || result.reason === "oom" || this.killReason !== null;
      // Why a crash happened, when a taken port explains it (said in Exited and BackOff).
      const why = failed && !this.stopRequested && this.killReason === null ? await this.portTakenNote() : "";
      if (result.reason === "oom") this.event("OOMKilled", `Container was killed for exceeding its memory limit (exit code ${exit.exitCode})`);
      else this.event("Exited", `Container exited with code ${exit.exitCode}${result.reason === "signal" ? ` (signal ${exit.exitCode - 128})` : ""}${why}`, exit.exitCode === 0 || this.stopRequested ? "Normal" : "Warning");
      this.emit("exit", { ...result, serviceId: this.serviceId, containerId: inst.id });
      await inst.remove().catch((err) => this.log.warn({ err, container: inst.id }, "could not remove container"));
      this.flushOutput();
      this.current = null;
      if (this.stopRequested) return;

      const policy = this.spec.restart.policy;
      if (policy === "never" || (policy === "on-failure" && !failed)) {
        this.setState("exited");
        return;
      }
      if (!(await this.backoff(now, startedAt, `restarting ${failed ? "failed " : ""}container${why}`, false))) return;
    }
  }

  /**
   * Waits the backoff delay before the next attempt, in state `backoff` (or `failed`, for a
   * failed start). A run that stayed up `resetAfterMs` counts as healthy: the delay starts
   * over. Returns false when a stop ended the wait.
   */
  private async backoff(now: number, startedAt: number, what: string, failedStart: boolean): Promise<boolean> {
    if (now - startedAt >= this.spec.restart.resetAfterMs) this.failures = 0;
    this.failures++;
    const delay = backoffDelay(this.spec.restart, this.failures);
    this.st.restart_scheduled_at = now + delay;
    this.event("BackOff", `Back-off ${formatMs(delay)} ${what}`);
    if (!failedStart) this.setState("backoff");
    await new Promise<void>((resolve) => {
      const cancel = this.setTimer(resolve, delay);
      this.wake = () => {
        cancel();
        resolve();
      };
    });
    this.wake = null;
    this.st.restart_scheduled_at = null;
    if (this.stopRequested) return false;
    this.st.restart_count++;
    return true;
  }

  private async launchOnce(): Promise<RunningInstance | null> {
    // One splitter per stream and run: a run's unterminated line never joins the next run's.
    const splitters = {
      stdout: new LineSplitter((l) => this.emitLog("stdout", l), this.masking),
      stderr: new LineSplitter((l) => this.emitLog("stderr", l), this.masking),
    };
    this.splitters = splitters;
    this.recentLines = [];
    let inst: RunningInstance | null = null;
    try {
      inst = await this.driver.launch(this.spec, {
        created: (id) => {
          this.st.container_id = id;
          this.event("Created", `Created container ${id.slice(0, 12)} from ${this.spec.image}`);
        },
        output: (stream, chunk) => splitters[stream].push(chunk),
        outputEnd: (stream) => splitters[stream].flush(),
        oom: () => this.onOom(inst),
      });
      this.st.last_start_error = null;
      return inst;
    } catch (err) {
      const message = err instanceof LaunchFailure ? err.message : `could not start container: ${(err as Error).message}`;
      if (!(err instanceof LaunchFailure)) this.log.warn({ err }, "service launch failed");
      this.retryStart = !(err instanceof LaunchFailure) || err.retry;
      this.startFailed(message);
      return null;
    }
  }

  /** Emits what is left of the run's output (the last line without a newline). */
  private flushOutput(): void {
    this.splitters?.stdout.flush();
    this.splitters?.stderr.flush();
  }

  /**
   * The kernel killed a process of this run for memory. When the container is still up a
   * moment later, a child died and the main process survived: say so (the exit path reports
   * the other case).
   */
  private onOom(inst: RunningInstance | null): void {
    this.setTimer(() => {
      void (async () => {
        if (inst === null || this.current !== inst || this.currentExit !== null) return;
        // The exit path may still be settling how the run ended: ask the runtime directly.
        if (inst.running !== undefined && !(await inst.running().catch(() => false))) return;
        if (this.current !== inst || this.currentExit !== null) return;
        this.event("OOMKilled", "A process in the container was killed for exceeding the memory limit; the main process is still running");
      })();
    }, OOM_SETTLE_MS);
  }

  /**
   * "; port 8080 was already in use by service \"web\"" when a declared port answers now that
   * this run has exited, or the run's output said "address already in use" for a port.
   */
  private async portTakenNote(): Promise<string> {
    const ports = new Set<number>();
    for (const p of this.spec.ports) {
      const r = await this.driver.netCheck({ kind: "tcp", port: p.num }, 500).catch(() => ({ ok: false }));
      if (r.ok) ports.add(p.num);
    }
    for (const line of this.recentLines) {
      if (!ADDRESS_IN_USE.test(line)) continue;
      const m = /:(\d{1,5})\b(?!.*:\d{1,5}\b)/.exec(line) ?? /port (\d{1,5})\b/i.exec(line);
      if (m !== null) ports.add(Number(m[1]));
    }
    if (ports.size === 0) return "";
    const parts = [...ports].map((p) => {
      const holder = this.portHolder(p, this.serviceId);
      return `port ${p} was already in use${holder !== null ? ` by ${holder}` : ""}`;
    });
    return ` (${parts.join("; ")})`;
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
      {
        wait: (ms, signal) => sleep(ms, signal, (fn, t) => this.setTimer(fn, t)),
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
    if (this.killNow) {
      await inst.signal("SIGKILL");
      return inst.exited;
    }
    await inst.signal(signal || "SIGTERM");
    let cancel = () => {};
    const graceOver = new Promise<"timeout">((resolve) => (cancel = this.setTimer(() => resolve("timeout"), gracePeriodMs)));
    const first = await Promise.race([inst.exited, graceOver]);
    cancel();
    if (first === "timeout") {
      this.log.info({ container: inst.id, gracePeriodMs }, "grace period over; sending SIGKILL");
      await inst.signal("SIGKILL");
    }
    return inst.exited;
  }

  /** Ends the current run (if any) and the loop; shared by stop() and restart(). */
  private halt(): Promise<StopResult | null> {
    this.halting ??= this.doHalt();
    return this.halting;
  }

  private async doHalt(): Promise<StopResult | null> {
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

  private setTimer(fn: () => void, ms: number): () => void {
    if (this.clock.setTimer !== undefined) return this.clock.setTimer(fn, ms);
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
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
    const e = this.eventLog.record(reason, message, this.clock.now(), type);
    (e.type === "Warning" ? this.log.warn : this.log.info).call(this.log, { reason, event: message }, "service event");
    this.emit("event", { ...e, serviceId: this.serviceId } satisfies ServiceEvent & { serviceId: string });
    this.emitState();
  }

  /** `line` is already masked (by the run's LineSplitter). */
  private emitLog(stream: "stdout" | "stderr", line: string): void {
    // Services print when they come up ("listening on 8080"): look now, not after the backoff.
    this.probes?.nudge();
    this.recentLines.push(line);
    if (this.recentLines.length > RECENT_LINES) this.recentLines.shift();
    this.emit("log", { serviceId: this.serviceId, stream, line, timestamp: this.clock.now() });
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
