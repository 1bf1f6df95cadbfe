/**
 * One service of a room's Pod, as the server sees every service: MeshAgent-shaped state,
 * de-duplicated events, masked log lines, exits. Unlike docker and sandbox, the engine (the
 * kubelet, or podman) owns the container's lifecycle — it starts, probes and restarts it —
 * so this class does not drive a run; it turns what the engine reports (ContainerStatus and
 * Events, see api.ts) into the same states and events the ServiceSupervisor produces.
 */
import { EventEmitter } from "node:events";
import { LineSplitter, maskSpec, secretsToMask } from "../logs.ts";
import type {
  Clock, EventReason, Logger, ServiceEvent, ServiceHandle, ServiceHandleEvents, ServiceLaunchSpec, ServiceRuntimeState,
  ServiceStateName, StopOptions, StopResult,
} from "../types.ts";
import type { ContainerObservation, PodEvent } from "./api.ts";
import { ServiceEventLog } from "../service-events.ts";
import { realTimer } from "../probes.ts";

/** Kubernetes event reasons shown on the service; the rest (Scheduled, Pulled, ...) are engine chatter. */
const KUBE_REASONS: Record<string, EventReason> = {
  Unhealthy: "Unhealthy", BackOff: "BackOff", Killing: "Killing", Failed: "FailedStart", FailedCreatePodContainer: "FailedStart",
};
/** Waiting reasons that mean the container cannot start until someone fixes something. */
const START_FAILURES = new Set(["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"]);

/** The hooks a service gives its sandbox: stop and restart replace the room's Pod (see runtime.ts). */
/** How long an ended run's log stream may go on delivering its last lines (ms). */
const LOG_DRAIN_MS = 2000;

export interface PodServiceOwner {
  /** `kill`: no grace period, also for a stop of this service already in its grace period. */
  stopService(h: PodServiceHandle, kill: boolean): Promise<void>;
  restartService(h: PodServiceHandle, spec: ServiceLaunchSpec | undefined): Promise<void>;
  /**
   * Starts following a run's output; returns a function that stops following. `onEnd` is
   * called when the engine's stream ends by itself (the container exited and its output was read).
   */
  followLogs(h: PodServiceHandle, containerId: string, sinceMs: number | null, onEnd?: () => void): () => void;
}

export class PodServiceHandle implements ServiceHandle {
  readonly serviceId: string;
  spec: ServiceLaunchSpec;
  /** What the server last asked for: "run" (in the next Pod) or "stop" (left out of it). */
  intent: "run" | "stop" = "run";
  private readonly owner: PodServiceOwner;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly emitter = new EventEmitter();
  /** The state but its events (which `eventLog` keeps as immutable snapshots). */
  private readonly st: Omit<ServiceRuntimeState, "events">;
  private readonly eventLog = new ServiceEventLog();
  private lastStop: StopResult | null = null;
  /** The run being observed: container id + restart count; a change means a new run. */
  private run: { key: string; ready: boolean; everReady: boolean; stopLogs: () => void; splitters: Record<"stdout" | "stderr", LineSplitter> } | null = null;
  /**
   * A run that ended while the engine's log stream may still carry its last lines (podman's
   * `logs -f` reads them after the exit is observable): kept until that stream ends, the next
   * run begins, the Pod is gone, or LOG_DRAIN_MS pass — so a service's last words are not lost.
   */
  private draining: { splitters: Record<"stdout" | "stderr", LineSplitter>; stopLogs: () => void; cancelTimer: () => void } | null = null;
  private seenTermination = new Set<string>();
  private seenEvents = new Map<string, number>();
  /** Restart counts of earlier Pods of the session (a new Pod starts its own count at 0). */
  private restartBase = 0;
  private lastRestartCount = 0;
  private entered = false;
  private readonly evaluatesProbes: boolean;

  constructor(spec: ServiceLaunchSpec, owner: PodServiceOwner, log: Logger, clock: Clock, evaluatesProbes: boolean) {
    this.serviceId = spec.serviceId;
    this.spec = spec;
    this.owner = owner;
    this.log = log.child({ service: spec.serviceId, serviceName: spec.name });
    this.clock = clock;
    this.evaluatesProbes = evaluatesProbes;
    this.st = {
      service_id: spec.serviceId, state: "pending", container_id: null, started_at: null, restart_count: 0,
      restart_scheduled_at: null, last_exit_code: null, last_exit_at: null, last_start_error: null,
      ports: spec.ports.map((p) => ({ num: p.num, liveness_status: p.livenessPath ? "not_ready" : "not_configured", last_checked_at: null, last_error: null })),
    };
  }

  // ---- ServiceHandle ----

  /** A snapshot the caller may keep: fields and ports copied, the events the log's frozen list (as ServiceSupervisor.status). */
  status(): ServiceRuntimeState {
    return { ...this.st, ports: this.st.ports.map((p) => ({ ...p })), events: this.eventLog.list };
  }

  on<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void {
    this.emitter.on(event, fn);
  }

  off<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void {
    this.emitter.off(event, fn);
  }

  restart(spec?: ServiceLaunchSpec): Promise<void> {
    if (spec !== undefined && spec.serviceId !== this.serviceId) {
      return Promise.reject(new Error(`restart with a spec for ${spec.serviceId} on service ${this.serviceId}`));
    }
    this.intent = "run";
    return this.owner.restartService(this, spec);
  }

  stop(o: StopOptions = {}): Promise<void> {
    this.intent = "stop";
    return this.owner.stopService(this, o.kill === true);
  }

  lastExit(): StopResult | null {
    return this.lastStop;
  }

  // ---- driven by the sandbox ----

  /** The service's container is going into a new Pod (first start, or a replacement: a restart). */
  enterPod(spec: ServiceLaunchSpec): void {
    this.spec = spec;
    if (this.entered) this.restartBase += this.lastRestartCount + 1;
    this.entered = true;
    this.st.restart_count = this.restartBase;
    this.lastRestartCount = 0;
    this.st.last_start_error = null;
    this.endRun();
    this.setState("pending");
  }

  /**
   * The container is being restarted inside the running Pod (runtime.ts restartInPlace): a
   * new run of the same container follows, counted as a restart.
   */
  restartingInPlace(spec: ServiceLaunchSpec, container: string): void {
    this.spec = spec;
    this.restartBase += this.lastRestartCount + 1;
    // podman's restart starts the container's own count over.
    this.lastRestartCount = 0;
    this.st.restart_count = this.restartBase;
    this.st.last_start_error = null;
    this.event("Killing", `Stopping container ${container}: restarting it in place (the room's other services keep running)`);
    this.setState("stopping");
  }

  /** An event the sandbox has to say about this service (e.g. why its Pod is replaced). */
  notice(reason: EventReason, message: string): void {
    this.event(reason, message);
  }

  /** The container could not be created at all (the Pod was refused). */
  failStart(message: string): void {
    this.st.last_start_error = message;
    this.event("FailedStart", message);
    this.setState("failed");
  }

  /** The Pod (or this container of it) is being stopped. */
  stopping(): void {
    if (this.st.state !== "stopped" && this.st.state !== "failed") this.setState("stopping");
  }

  /** The Pod is gone: the run ended (if it was not seen ending, it ended by the stop). */
  stopped(): void {
    if (this.run !== null) {
      // Not observed terminating: the Pod was deleted under it (stop signal, then SIGKILL).
      this.endRun();
    }
    this.finishDrain(); // the Pod is gone: its log streams have said all they will

    if (this.st.state !== "failed") this.setState("stopped");
  }

  /** One poll of the Pod's status: this service's container (undefined: not in the Pod's status yet). */
  observe(c: ContainerObservation | undefined): void {
    if (c === undefined) return;
    if (c.restartCount > this.lastRestartCount) {
      this.lastRestartCount = c.restartCount;
      this.st.restart_count = this.restartBase + c.restartCount;
      if (c.last !== null) this.recordExit(c.last.exitCode, c.last.reason, c.last.finishedAt, `${c.id}/${c.restartCount - 1}`);
    }
    const s = c.state;
    if (s.kind === "waiting") {
      if (START_FAILURES.has(s.reason)) {
        const msg = `${s.reason}: ${s.message || "the container could not be created"}`;
        if (this.st.last_start_error !== msg) {
          this.st.last_start_error = msg;
          this.event("FailedStart", msg);
        }
        this.setState("failed");
      } else if (s.reason === "CrashLoopBackOff") {
        this.setState("backoff");
      }
      return;
    }
    if (c.id !== null && this.st.container_id !== c.id) {
      this.st.container_id = c.id;
      this.event("Created", `Created container ${c.name}`);
    }
    // The start time too: a container restarted in place keeps its id and (podman) restarts its count.
    const key = `${c.id}/${c.restartCount}/${s.startedAt}`;
    if (s.kind === "running") {
      if (this.run?.key !== key) {
        this.endRun();
        this.st.started_at = s.startedAt;
        this.event("Started", `Started container ${c.name}`);
        this.beginRun(key, c.id ?? "", s.startedAt);
      }
      const r = this.run!;
      const ready = this.evaluatesProbes ? c.ready : true;
      if (ready && !r.ready) {
        r.ready = true;
        r.everReady = true;
        this.setPorts("ready");
        this.event("Ready", this.evaluatesProbes ? "Container is ready" : "Container is running (this engine does not run readiness probes)");
        this.setState("running");
      } else if (!ready && r.ready) {
        r.ready = false;
        this.setPorts("not_ready");
        this.setState("unhealthy");
      } else if (!ready && !r.everReady) {
        this.setState("starting");
      }
      return;
    }
    // terminated
    this.recordExit(s.exitCode, s.reason, s.finishedAt, key);
    this.endRun();
    if (this.st.state !== "stopping" && this.st.state !== "stopped") this.setState("exited");
  }

  /** Kubernetes Events about this container, shown with our reasons (engine de-duplicates; we add the new count). */
  observeEvents(events: PodEvent[]): void {
    for (const e of events) {
      const reason = KUBE_REASONS[e.reason];
      if (reason === undefined) continue;
      const id = `${e.reason}\0${e.message}\0${e.firstTimestamp}`;
      const seen = this.seenEvents.get(id) ?? 0;
      for (let i = seen; i < e.count; i++) this.event(reason, e.message, e.type);
      this.seenEvents.set(id, Math.max(seen, e.count));
    }
  }

  private recordExit(exitCode: number, reason: string, at: number, key: string): void {
    // One run ends once: seen as terminated and later as lastState, it has the same end time.
    const id = at > 0 ? `end@${at}` : key;
    if (this.seenTermination.has(id)) return;
    this.seenTermination.add(id);
    const oom = reason === "OOMKilled";
    const result: StopResult = { exitCode, reason: oom ? "oom" : exitCode > 128 && exitCode <= 192 ? "signal" : "exit" };
    this.lastStop = result;
    this.st.last_exit_code = exitCode;
    this.st.last_exit_at = at;
    if (oom) this.event("OOMKilled", "Container was killed by the kernel for exceeding its memory limit");
    else this.event("Exited", `Container exited with code ${exitCode}`, exitCode === 0 ? "Normal" : "Warning");
    this.emit("exit", { ...result, serviceId: this.serviceId, containerId: this.st.container_id ?? "" });
  }

  private beginRun(key: string, containerId: string, startedAt: number): void {
    const masking = maskSpec(secretsToMask(this.spec));
    const splitters = {
      stdout: new LineSplitter((line) => this.emitLog("stdout", line), masking),
      stderr: new LineSplitter((line) => this.emitLog("stderr", line), masking),
    };
    this.finishDrain(); // an earlier run's late lines must not land in this one
    this.run = { key, ready: false, everReady: false, splitters, stopLogs: () => {} };
    const run = this.run;
    run.stopLogs = this.owner.followLogs(this, containerId, this.st.restart_count > 0 ? startedAt : null, () => {
      if (this.draining?.splitters === splitters) this.finishDrain();
    });
  }

  /** Raw output of the current run, or of the run that just ended (from the engine's log stream). */
  output(stream: "stdout" | "stderr", chunk: Uint8Array): void {
    (this.run ?? this.draining)?.splitters[stream].push(chunk);
  }

  private endRun(): void {
    const r = this.run;
    if (r === null) return;
    this.run = null;
    this.finishDrain();
    const finish = () => this.finishDrain();
    const cancelTimer = (this.clock.setTimer ?? realTimer)(finish, LOG_DRAIN_MS);
    this.draining = { splitters: r.splitters, stopLogs: r.stopLogs, cancelTimer };
    this.setPorts("not_ready");
  }

  /** Stops following the ended run's output and flushes its last partial lines. */
  private finishDrain(): void {
    const d = this.draining;
    if (d === null) return;
    this.draining = null;
    d.cancelTimer();
    d.stopLogs();
    d.splitters.stdout.flush();
    d.splitters.stderr.flush();
  }

  private setPorts(status: "ready" | "not_ready"): void {
    const now = this.clock.now();
    for (const p of this.st.ports) {
      if (p.liveness_status === "not_configured") continue;
      p.liveness_status = status;
      p.last_checked_at = now;
    }
  }

  // ---- state, events, logs (as ServiceSupervisor does them) ----

  private setState(s: ServiceStateName): void {
    if (this.st.state === s) return;
    this.st.state = s;
    this.emit("state", this.status());
  }

  private emit(name: keyof ServiceHandleEvents, payload: unknown): void {
    try {
      this.emitter.emit(name, payload);
    } catch (err) {
      this.log.error({ err, listener: name }, "a service listener threw");
    }
  }

  private event(reason: EventReason, message: string, type?: "Normal" | "Warning"): void {
    const e = this.eventLog.record(reason, message, this.clock.now(), type);
    this.emit("event", { ...e, serviceId: this.serviceId } satisfies ServiceEvent & { serviceId: string });
    this.emit("state", this.status());
  }

  private emitLog(stream: "stdout" | "stderr", line: string): void {
    this.emit("log", { serviceId: this.serviceId, stream, line, timestamp: this.clock.now() });
  }
}
