/**
 * Probes for Pods on podman, which runs none of them (4.3 ignores readiness probes and turns
 * liveness and startup probes into healthchecks that only systemd timers run). The podman
 * backend runs the Pod's own probe fields itself, the kubelet's way
 * (https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/):
 * - every probe waits `initialDelaySeconds` after the container started, then checks every
 *   `periodSeconds`; a check slower than `timeoutSeconds` fails;
 * - a startup probe, while it has not yet succeeded, holds back readiness and liveness; after
 *   `failureThreshold` failures in a row the container is killed (and restarted per the Pod's
 *   restartPolicy);
 * - a liveness probe failing `failureThreshold` times in a row kills the container the same way;
 * - a readiness probe makes the container ready after `successThreshold` successes in a row
 *   and unready after `failureThreshold` failures; without one, a container is ready once its
 *   startup probe (if any) has passed.
 * Every failed check is a Warning `Unhealthy` event ("Liveness probe failed: …"), a kill a
 * Normal `Killing` event ("Container web failed liveness probe, will be restarted"), as the
 * kubelet records them. HTTP and TCP checks are made inside the Pod's network namespace (the
 * infra container's, entered with the NetnsProber helper the docker and sandbox runtimes use),
 * exec checks by `podman exec`.
 */
import type { V1Probe } from "@kubernetes/client-node";
import { NetnsProber } from "../netns/prober.ts";
import type { HelperSpawnLimit } from "../netns/spawn-limit.ts";
import type { CheckResult } from "../probes.ts";
import type { Logger } from "../types.ts";

export type ProbeKind = "startup" | "readiness" | "liveness";

/** A container's probes, as the Pod spec gives them. */
export type ContainerProbes = Partial<Record<ProbeKind, V1Probe>>;

/** What the prober needs from the engine. */
export interface ProbeHooks {
  exec(containerId: string, command: string[], timeoutMs: number): Promise<CheckResult>;
  /**
   * Kill the run (stop signal, grace period, SIGKILL); the engine restarts it per the restart
   * policy. `signal` aborts when the probes are closed (the Pod is stopping): give up then.
   */
  kill(containerId: string, startedAt: number, signal: AbortSignal): Promise<void>;
  event(container: string, type: "Normal" | "Warning", reason: string, message: string): void;
}

interface ProbeRun {
  nextAt: number;
  successes: number;
  failures: number;
  inFlight: boolean;
}

/** One container run (identified by its start time; a restart starts over, unready). */
interface RunState {
  startedAt: number;
  /** The startup probe has succeeded (or there is none). */
  started: boolean;
  ready: boolean;
  /** Killed by a failed startup or liveness probe: no more checks for this run. */
  killed: boolean;
  runs: Partial<Record<ProbeKind, ProbeRun>>;
}

const TITLE: Record<ProbeKind, string> = { startup: "Startup", readiness: "Readiness", liveness: "Liveness" };

/**
 * The probes of one Pod's containers, driven by the backend's status reads (`ready` on each
 * poll, per container run); `close` when the Pod stops (it also aborts a kill under way).
 */
export class PodProbes {
  private readonly probes: Map<string, ContainerProbes>;
  private readonly state = new Map<string, RunState>();
  private prober: NetnsProber | null = null;
  private readonly log: Logger;
  private readonly hooks: ProbeHooks;
  private readonly spawns: HelperSpawnLimit;
  private closed = false;
  private readonly ctl = new AbortController();
  private readonly now: () => number;

  /** `now`: the clock the periods are measured on (ms; tests inject one). */
  constructor(probes: Map<string, ContainerProbes>, log: Logger, hooks: ProbeHooks, spawns: HelperSpawnLimit, now: () => number = Date.now) {
    this.now = now;
    this.spawns = spawns;
    this.probes = probes;
    this.log = log;
    this.hooks = hooks;
  }

  /** The Pod's network namespace, once its infra container runs (/proc/<pid>/ns/net). */
  setNetns(path: string): void {
    if (this.prober !== null || this.closed) return;
    this.prober = new NetnsProber(path, this.log, this.spawns);
    this.prober.warm();
  }

  /**
   * Whether `container` (running since `startedAt`) is ready now; starts the checks that are
   * due (their verdicts count from a later call: the runtime polls).
   */
  ready(container: string, containerId: string, startedAt: number, now: number): boolean {
    const p = this.probes.get(container) ?? {};
    let s = this.state.get(container);
    if (s === undefined || s.startedAt !== startedAt) {
      s = { startedAt, started: p.startup === undefined, ready: false, killed: false, runs: {} };
      this.state.set(container, s);
    }
    if (s.killed || this.closed) return false;
    if (!s.started) {
      this.tick(container, containerId, s, "startup", p.startup!, now);
    } else {
      if (p.liveness) this.tick(container, containerId, s, "liveness", p.liveness, now);
      if (p.readiness) this.tick(container, containerId, s, "readiness", p.readiness, now);
      else s.ready = true;
    }
    return s.ready && !s.killed;
  }

  private tick(container: string, containerId: string, s: RunState, kind: ProbeKind, p: V1Probe, now: number): void {
    const r = (s.runs[kind] ??= { nextAt: Math.max(now, s.startedAt + (p.initialDelaySeconds ?? 0) * 1000), successes: 0, failures: 0, inFlight: false });
    if (r.inFlight || now < r.nextAt) return;
    // HTTP and TCP checks wait for the namespace (the infra container's pid, read with the status).
    if (this.prober === null && p.exec === undefined) return;
    r.inFlight = true;
    void this.check(p, containerId).then((res) => {
      r.inFlight = false;
      r.nextAt = this.now() + (p.periodSeconds ?? 10) * 1000;
      if (this.closed || s.killed || this.state.get(container) !== s) return;
      if (res.ok) {
        r.failures = 0;
        r.successes++;
        // Liveness and startup probes need one success (Kubernetes validates successThreshold 1).
        if (kind === "startup") s.started = true;
        if (kind === "readiness" && r.successes >= (p.successThreshold ?? 1)) s.ready = true;
        return;
      }
      r.successes = 0;
      r.failures++;
      this.hooks.event(container, "Warning", "Unhealthy", `${TITLE[kind]} probe failed: ${res.error ?? "check failed"}`);
      if (r.failures < (p.failureThreshold ?? 3)) return;
      if (kind === "readiness") {
        s.ready = false;
        return;
      }
      s.killed = true;
      s.ready = false;
      this.hooks.event(container, "Normal", "Killing", `Container ${container} failed ${kind} probe, will be restarted`);
      void this.hooks.kill(containerId, s.startedAt, this.ctl.signal).catch((err) => this.log.warn({ err, container }, "could not kill a container that failed its probe"));
    });
  }

  private check(p: V1Probe, containerId: string): Promise<CheckResult> {
    const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
    if (p.exec?.command) return this.hooks.exec(containerId, p.exec.command, timeoutMs);
    if (p.httpGet) {
      const headers = (p.httpGet.httpHeaders ?? []).map((h) => ({ name: h.name, value: h.value }));
      return this.prober!.check({ kind: "http", port: Number(p.httpGet.port), path: p.httpGet.path ?? "/", ...(headers.length > 0 ? { headers } : {}) }, timeoutMs);
    }
    if (p.tcpSocket) return this.prober!.check({ kind: "tcp", port: Number(p.tcpSocket.port) }, timeoutMs);
    return Promise.resolve({ ok: true });
  }

  close(): void {
    this.closed = true;
    this.ctl.abort();
    this.prober?.close();
    this.prober = null;
  }
}
