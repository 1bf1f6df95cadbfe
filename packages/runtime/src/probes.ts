/**
 * Health probes for one container run, Kubernetes semantics plus Compose's start interval:
 * a startup probe gates readiness and liveness; liveness failure asks for a restart;
 * readiness only flips the service between running and unhealthy; MeshAgent's per-port
 * `liveness` path only drives the port's liveness_status.
 *
 * Until a probe first succeeds it checks soon and often: the first wait is `startIntervalMs`
 * (20 ms by default, so a room is ready as soon as its services answer), and each further wait
 * doubles up to START_BACKOFF_MAX_MS — a service that takes seconds to load is not checked
 * every 20 ms through the room's helper process, whose CPU the service itself needs
 * (docs/benchmarks.md, issue #10). What the service does cuts a wait short: an output line
 * or a connection to the Room API (`ProbeSet.nudge()`) triggers a check at once, still never
 * more often than every `startIntervalMs`. The failure budget is unchanged, `failureThreshold
 * × periodMs` as in Kubernetes — checking faster must not make a slow starter fail sooner.
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

/** The real clock's one-shot timer: runs `fn` after `ms` milliseconds; returns its cancel. Injected where tests use a fake. */
export function realTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
}

/**
 * Resolves after `ms` (on `setTimer`, default the real setTimeout) or when `signal` aborts,
 * whichever comes first. Its abort listener is removed either way: a long-lived signal (a
 * service run's, a follower's) waited on in a loop must not collect one listener per wait.
 */
export function sleep(ms: number, signal: AbortSignal, setTimer: (fn: () => void, ms: number) => () => void = realTimer): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      cancel();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const cancel = setTimer(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The longest wait between checks before a probe's first success (the waits start at
 * `startIntervalMs` and double up to this, or to `periodMs` when that is shorter).
 */
export const START_BACKOFF_MAX_MS = 500;

/**
 * The wait after the `checks`-th failed check (1-based) before the probe's first success:
 * `startIntervalMs × 2^(checks-1)`, capped at min(periodMs, START_BACKOFF_MAX_MS) but never
 * below the first wait. `startIntervalMs` 0 means "no fast start": every wait is `periodMs`.
 */
export function startPhaseDelay(p: Pick<Probe, "startIntervalMs" | "periodMs">, checks: number): number {
  const first = p.startIntervalMs > 0 ? Math.min(p.startIntervalMs, p.periodMs) : p.periodMs;
  const cap = Math.max(first, Math.min(p.periodMs, START_BACKOFF_MAX_MS));
  return Math.min(cap, first * 2 ** Math.min(Math.max(checks, 1) - 1, 30));
}

/** Resolves after ms, or at once when `signal` aborts. */
export type Wait = (ms: number, signal: AbortSignal) => Promise<void>;

/**
 * "Something happened, check now": cuts short the waits of probes that have not yet
 * succeeded. `generation` counts nudges, so a nudge that arrives while a check runs is not
 * lost (the loop compares it before and after).
 */
export class ProbeNudge {
  private gen = 0;
  private readonly wakers = new Set<() => void>();

  get generation(): number {
    return this.gen;
  }

  fire(): void {
    this.gen++;
    for (const wake of [...this.wakers]) wake();
  }

  /** Waits `ms` with `wait`, ending early at the next fire() or when `signal` aborts. */
  async sleep(ms: number, signal: AbortSignal, wait: Wait): Promise<void> {
    if (ms <= 0 || signal.aborted) return;
    const ctl = new AbortController();
    const wake = () => ctl.abort();
    this.wakers.add(wake);
    signal.addEventListener("abort", wake, { once: true });
    try {
      await wait(ms, ctl.signal);
    } finally {
      this.wakers.delete(wake);
      signal.removeEventListener("abort", wake);
    }
  }
}

/** Time for a probe loop: its waits and its clock (the supervisor's, so tests need not sleep). */
export interface LoopTiming {
  wait: Wait;
  now(): number;
  /** Nudges that cut short the waits before the first success. */
  nudge?: ProbeNudge;
}

const REAL_TIMING: LoopTiming = { wait: sleep, now: () => Date.now() };

interface LoopHooks {
  /** Every check, for last_checked_at / last_error. */
  checked?(ok: boolean, error: string | undefined): void;
  up(): void;
  down(error: string): void;
}

/**
 * Runs one probe until `signal` aborts (or, with `untilFirstVerdict`, until it first goes up
 * or down). `up`/`down` fire on transitions only. Before the first success the waits back off
 * (startPhaseDelay) and `timing.nudge` cuts them short; afterwards every wait is `periodMs`.
 */
export async function probeLoop(p: Probe, check: Checker, signal: AbortSignal, hooks: LoopHooks, untilFirstVerdict = false, timing: LoopTiming = REAL_TIMING): Promise<void> {
  await timing.wait(p.initialDelayMs, signal);
  const startedAt = timing.now();
  let everUp = false;
  let budgetSpent = false;
  let state: "unknown" | "up" | "down" = "unknown";
  let successes = 0;
  let failures = 0;
  let checks = 0;
  while (!signal.aborted) {
    const nudgesBefore = timing.nudge?.generation ?? 0;
    const r = await check(p.action, p.timeoutMs);
    if (signal.aborted) return;
    checks++;
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
      const exhausted = everUp ? failures >= Math.max(1, p.failureThreshold) : timing.now() - startedAt >= Math.max(1, p.failureThreshold) * p.periodMs;
      if (exhausted && state !== "down") {
        state = "down";
        budgetSpent = true;
        hooks.down(error);
        if (untilFirstVerdict) return;
      }
    }
    if (everUp || budgetSpent) {
      await timing.wait(p.periodMs, signal);
      continue;
    }
    // Fast start: at least the first interval between checks, then the backed-off rest of
    // the wait unless a nudge (now or during the check) says to look again.
    const delay = startPhaseDelay(p, checks);
    const min = Math.min(delay, startPhaseDelay(p, 1));
    await timing.wait(min, signal);
    if (timing.nudge === undefined) {
      if (delay > min) await timing.wait(delay - min, signal);
    } else if (timing.nudge.generation === nudgesBefore) await timing.nudge.sleep(delay - min, signal, timing.wait);
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
  private readonly wait: Wait;
  private readonly nudges = new ProbeNudge();
  private readonly timing: LoopTiming;

  /**
   * `minReadyMs`: see MIN_READY_MS_WITHOUT_PROBES. `wait` resolves after ms or at abort (the
   * supervisor passes one on its injected clock, so tests need not sleep).
   */
  constructor(spec: ProbeSet["spec"], check: Checker, hooks: ProbeSetHooks, o: { minReadyMs?: number; wait?: Wait } = {}) {
    this.minReadyMs = o.minReadyMs ?? MIN_READY_MS_WITHOUT_PROBES;
    this.wait = o.wait ?? sleep;
    this.spec = spec;
    this.check = check;
    this.hooks = hooks;
    this.timing = { wait: this.wait, now: () => hooks.now(), nudge: this.nudges };
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
      }, false, this.timing);
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
      this.timing,
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
      }, false, this.timing);
    }
    const liveness = this.spec.probes.liveness;
    if (liveness !== undefined) {
      void probeLoop(liveness, this.check, signal, {
        up: () => {},
        down: (error) => {
          this.hooks.unhealthy(`Liveness probe failed: ${error}`);
          this.hooks.kill(`Container failed liveness probe, will be restarted`);
        },
      }, false, this.timing);
    }
  }

  /**
   * Something suggests the service may be ready (it printed a line, or a process of its room
   * connected to the Room API): probes that have not yet succeeded check now instead of
   * finishing their backed-off wait. Cheap enough to call for every output line.
   */
  nudge(): void {
    this.nudges.fire();
  }

  stop(): void {
    this.ctl.abort();
  }
}
