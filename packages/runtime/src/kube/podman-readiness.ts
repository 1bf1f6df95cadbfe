/**
 * Readiness probes for Pods on podman, which ignores them (4.3): the Pod's own readinessProbe
 * fields, run the kubelet's way — after initialDelaySeconds, every periodSeconds, ready after
 * successThreshold successes in a row, unready after failureThreshold failures — with HTTP and
 * TCP checks made inside the Pod's network namespace (the infra container's, entered with the
 * same NetnsProber helper the docker and sandbox runtimes use) and exec checks by `podman exec`.
 * Liveness and startup probes are still not run on podman.
 */
import type { V1Probe } from "@kubernetes/client-node";
import { NetnsProber } from "../netns/prober.ts";
import type { HelperSpawnLimit } from "../netns/spawn-limit.ts";
import type { CheckResult } from "../probes.ts";
import type { Logger } from "../types.ts";

interface ProbeState {
  /** The run being probed (its start time); a new run starts over, unready. */
  startedAt: number;
  nextAt: number;
  successes: number;
  failures: number;
  ready: boolean;
  inFlight: boolean;
}

export class PodReadiness {
  private readonly probes: Map<string, V1Probe>;
  private readonly state = new Map<string, ProbeState>();
  private prober: NetnsProber | null = null;
  private readonly log: Logger;
  private readonly exec: (container: string, command: string[], timeoutMs: number) => Promise<CheckResult>;

  private readonly spawns: HelperSpawnLimit;

  constructor(probes: Map<string, V1Probe>, log: Logger, exec: PodReadiness["exec"], spawns: HelperSpawnLimit) {
    this.spawns = spawns;
    this.probes = probes;
    this.log = log;
    this.exec = exec;
  }

  /** The Pod's network namespace, once its infra container runs (/proc/<pid>/ns/net). */
  setNetns(path: string): void {
    if (this.prober !== null) return;
    this.prober = new NetnsProber(path, this.log, this.spawns);
    this.prober.warm();
  }

  /**
   * Whether `container` (running since `startedAt`) is ready now; starts a check when one is
   * due (the answer then comes with a later call, as the runtime polls).
   */
  ready(container: string, containerId: string, startedAt: number, now: number): boolean {
    const p = this.probes.get(container);
    if (p === undefined) return true;
    let s = this.state.get(container);
    if (s === undefined || s.startedAt !== startedAt) {
      s = { startedAt, nextAt: startedAt + (p.initialDelaySeconds ?? 0) * 1000, successes: 0, failures: 0, ready: false, inFlight: false };
      this.state.set(container, s);
    }
    if (!s.inFlight && now >= s.nextAt && (this.prober !== null || p.exec !== undefined)) {
      s.inFlight = true;
      const st = s;
      void this.check(p, containerId).then((r) => {
        st.inFlight = false;
        st.nextAt = Date.now() + (p.periodSeconds ?? 10) * 1000;
        if (r.ok) {
          st.failures = 0;
          if (++st.successes >= (p.successThreshold ?? 1)) st.ready = true;
        } else {
          st.successes = 0;
          if (++st.failures >= (p.failureThreshold ?? 3)) st.ready = false;
        }
      });
    }
    return s.ready;
  }

  private check(p: V1Probe, containerId: string): Promise<CheckResult> {
    const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
    if (p.exec?.command) return this.exec(containerId, p.exec.command, timeoutMs);
    if (p.httpGet) {
      const headers = (p.httpGet.httpHeaders ?? []).map((h) => ({ name: h.name, value: h.value }));
      return this.prober!.check({ kind: "http", port: Number(p.httpGet.port), path: p.httpGet.path ?? "/", ...(headers.length > 0 ? { headers } : {}) }, timeoutMs);
    }
    if (p.tcpSocket) return this.prober!.check({ kind: "tcp", port: Number(p.tcpSocket.port) }, timeoutMs);
    return Promise.resolve({ ok: true });
  }

  close(): void {
    this.prober?.close();
    this.prober = null;
  }
}
