/**
 * Health probes for one container run, Kubernetes semantics plus Compose's start interval:
 * a startup probe gates readiness and liveness; liveness failure asks for a restart;
 * readiness only flips the service between running and unhealthy; MeshAgent's per-port
 * `liveness` path only drives the port's liveness_status.
 *
 * Until a probe first succeeds it polls every `startIntervalMs` (20 ms by default, so a room is ready as soon as its services answer),
 * but the failure budget is still `failureThreshold × periodMs` as in Kubernetes — polling
 * faster must not make a slow starter fail sooner.
 */
import type { LivenessStatus, Probe, ProbeAction } from "./types.ts";

export interface CheckResult {
  ok: boolean;
  error?: string | undefined;
}

export type Checker = (action: ProbeAction, timeoutMs: number) => Promise<CheckResult>;

/** Port checks use MeshAgent's implicit timings: the manifest's probe defaults. */
export const PORT_PROBE_TIMINGS = {
  initialDelayMs: 0,
  periodMs: 10_000,
  startIntervalMs: 20,
  timeoutMs: 1000,
  failureThreshold: 3,
  successThreshold: 1,
} as const;

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

interface LoopHooks {
  /** Every check, for last_checked_at / last_error. */
  checked?(ok: boolean, error: string | undefined): void;
  up(): void;
  down(error: string): void;
}

/**
 * Runs one probe until `signal` aborts (or, with `untilFirstVerdict`, until it first goes up
 * or down). `up`/`down` fire on transitions only.
 */
export async function probeLoop(p: Probe, check: Checker, signal: AbortSignal, hooks: LoopHooks, untilFirstVerdict = false): Promise<void> {
  await sleep(p.initialDelayMs, signal);
  const startedAt = Date.now();
  let everUp = false;
  let budgetSpent = false;
  let state: "unknown" | "up" | "down" = "unknown";
  let successes = 0;
  let failures = 0;
  while (!signal.aborted) {
    const r = await check(p.action, p.timeoutMs);
    if (signal.aborted) return;
    hooks.checked?.(r.ok, r.error);
    if (r.ok) {
      failures = 0;
      successes++;
      if (state !== "up" && successes >= Math.max(1, p.successThreshold)) {
        state = "up";
        everUp = true;
        hooks.up();
        if (untilFirstVerdict) return;
      }
    } else {
      successes = 0;
      failures++;
      const error = r.error ?? "check failed";
      // Before the first success the budget is time-based (see the header comment).
      const exhausted = everUp ? failures >= Math.max(1, p.failureThreshold) : Date.now() - startedAt >= Math.max(1, p.failureThreshold) * p.periodMs;
      if (exhausted && state !== "down") {
        state = "down";
        budgetSpent = true;
        hooks.down(error);
        if (untilFirstVerdict) return;
      }
    }
    const fast = !everUp && !budgetSpent;
    await sleep(fast ? Math.min(p.startIntervalMs > 0 ? p.startIntervalMs : p.periodMs, p.periodMs) : p.periodMs, signal);
  }
}

export interface PortStatus {
  num: number;
  liveness_status: LivenessStatus;
  last_checked_at: number | null;
  last_error: string | null;
}

export interface ProbeSetHooks {
  /** Something observable changed (readiness or a port's status): re-read `ready` and ports. */
  changed(): void;
  /** Startup or liveness failed: the container must be killed (and maybe restarted). */
  kill(message: string): void;
  /** A probe failure worth an Unhealthy event. */
  unhealthy(message: string): void;
  now(): number;
}

/**
 * How long a run with nothing to probe (no startup or readiness probe, no port with a
 * liveness path) must stay up before it counts as ready — Kubernetes' `minReadySeconds`
 * idea: without it a container that exits at once was reported Ready first (issue 12 #17).
 */
export const MIN_READY_MS_WITHOUT_PROBES = 1000;

/** All probes of one container run; `stop()` when the run ends. */
export class ProbeSet {
  readonly ports: PortStatus[];
  private readonly ctl = new AbortController();
  private startupPassed = false;
  private readinessOk: boolean;
  private readonly spec: { ports: { num: number; livenessPath?: string | undefined }[]; probes: { startup?: Probe | undefined; readiness?: Probe | undefined; liveness?: Probe | undefined } };
  private readonly check: Checker;
  private readonly hooks: ProbeSetHooks;

  private readonly minReadyMs: number;
  private readonly wait: (ms: number, signal: AbortSignal) => Promise<void>;

  /**
   * `minReadyMs`: see MIN_READY_MS_WITHOUT_PROBES. `wait` resolves after ms or at abort (the
   * supervisor passes one on its injected clock, so tests need not sleep).
   */
  constructor(spec: ProbeSet["spec"], check: Checker, hooks: ProbeSetHooks, o: { minReadyMs?: number; wait?: (ms: number, signal: AbortSignal) => Promise<void> } = {}) {
    this.minReadyMs = o.minReadyMs ?? MIN_READY_MS_WITHOUT_PROBES;
    this.wait = o.wait ?? sleep;
    this.spec = spec;
    this.check = check;
    this.hooks = hooks;
    this.readinessOk = spec.probes.readiness === undefined;
    this.ports = spec.ports.map((p) => ({
      num: p.num,
      liveness_status: p.livenessPath === undefined ? "not_configured" : "not_ready",
      last_checked_at: null,
      last_error: null,
    }));
  }

  /** Ready = startup passed, readiness passing, and every port with a liveness path answering. */
  get ready(): boolean {
    return this.startupPassed && this.readinessOk && this.ports.every((p) => p.liveness_status !== "not_ready");
  }

  start(): void {
    const signal = this.ctl.signal;
    // Port liveness checks wait for the startup probe like the other checks (Kubernetes'
    // semantics): a slow start on a loaded machine is not reported as Unhealthy.
    if (this.spec.probes.startup === undefined) this.startPortChecks(signal);
    this.startProbes(signal);
  }

  private startPortChecks(signal: AbortSignal): void {
    this.spec.ports.forEach((port, i) => {
      if (port.livenessPath === undefined) return;
      const status = this.ports[i];
      const probe: Probe = { ...PORT_PROBE_TIMINGS, action: { kind: "http", port: port.num, path: port.livenessPath } };
      void probeLoop(probe, this.check, signal, {
        checked: (ok, error) => {
          status.last_checked_at = this.hooks.now();
          status.last_error = ok ? null : (error ?? "check failed");
        },
        up: () => {
          status.liveness_status = "ready";
          this.hooks.changed();
        },
        down: (error) => {
          status.liveness_status = "not_ready";
          this.hooks.unhealthy(`Port ${port.num} liveness check failed: ${error}`);
          this.hooks.changed();
        },
      });
    });
  }

  private startProbes(signal: AbortSignal): void {
    const startup = this.spec.probes.startup;
    const nothingToProbe = startup === undefined && this.spec.probes.readiness === undefined && this.spec.ports.every((p) => p.livenessPath === undefined);
    if (nothingToProbe) {
      // stop() (the run ended) aborts the wait, and afterStartup() then does nothing.
      void this.wait(this.minReadyMs, signal).then(() => this.afterStartup());
      return;
    }
    if (startup === undefined) return this.afterStartup();
    void probeLoop(
      startup,
      this.check,
      signal,
      {
        up: () => this.afterStartup(),
        down: (error) => {
          this.hooks.unhealthy(`Startup probe failed: ${error}`);
          this.hooks.kill(`Container failed startup probe, will be restarted`);
        },
      },
      true,
    );
  }

  private afterStartup(): void {
    if (this.ctl.signal.aborted) return;
    this.startupPassed = true;
    this.hooks.changed();
    const signal = this.ctl.signal;
    if (this.spec.probes.startup !== undefined) this.startPortChecks(signal);
    const readiness = this.spec.probes.readiness;
    if (readiness !== undefined) {
      void probeLoop(readiness, this.check, signal, {
        up: () => {
          this.readinessOk = true;
          this.hooks.changed();
        },
        down: (error) => {
          const was = this.readinessOk;
          this.readinessOk = false;
          this.hooks.unhealthy(`Readiness probe failed: ${error}`);
          if (was) this.hooks.changed();
        },
      });
    }
    const liveness = this.spec.probes.liveness;
    if (liveness !== undefined) {
      void probeLoop(liveness, this.check, signal, {
        up: () => {},
        down: (error) => {
          this.hooks.unhealthy(`Liveness probe failed: ${error}`);
          this.hooks.kill(`Container failed liveness probe, will be restarted`);
        },
      });
    }
  }

  stop(): void {
    this.ctl.abort();
  }
}
