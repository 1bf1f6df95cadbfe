/**
 * The PodApi on a real cluster, through @kubernetes/client-node (CoreV1Api: Pods, Secrets,
 * Events; Log for container output). Credentials come from the KubeConfig (KUBECONFIG, or
 * the in-cluster service account when Roomservice itself runs in a Pod). The service account
 * needs, in its namespace: pods (create, get, list, delete), pods/log (get), secrets (create,
 * list, delete) and events (list) — docs/scaling.md shows the Role.
 */
import { Writable } from "node:stream";
import { CoreV1Api, KubeConfig, Log, type V1ContainerStatus, type V1Pod } from "@kubernetes/client-node";
import type { ContainerObservation, ContainerState, PodApi, PodEvent, PodObservation } from "./api.ts";
import { KUBE_LABEL, type PodManifests } from "./manifest.ts";

function ms(d: Date | string | undefined | null): number {
  if (d === undefined || d === null) return 0;
  const t = d instanceof Date ? d.getTime() : Date.parse(d);
  return Number.isFinite(t) ? t : 0;
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown }).code === 404;
}

/** Kubernetes ContainerStatus → the runtime's observation. */
export function observeContainer(s: V1ContainerStatus): ContainerObservation {
  let state: ContainerState;
  if (s.state?.running) state = { kind: "running", startedAt: ms(s.state.running.startedAt) };
  else if (s.state?.terminated) {
    const t = s.state.terminated;
    state = { kind: "terminated", exitCode: t.exitCode, reason: t.reason ?? "", startedAt: ms(t.startedAt), finishedAt: ms(t.finishedAt) };
  } else state = { kind: "waiting", reason: s.state?.waiting?.reason ?? "ContainerCreating", message: s.state?.waiting?.message ?? "" };
  const lt = s.lastState?.terminated;
  return {
    name: s.name,
    id: s.containerID ?? null,
    state,
    ready: s.ready,
    restartCount: s.restartCount,
    last: lt ? { exitCode: lt.exitCode, reason: lt.reason ?? "", finishedAt: ms(lt.finishedAt) } : null,
  };
}

/** `spec.containers{web}` → "web" (Kubernetes Event involvedObject.fieldPath). */
function containerOf(fieldPath: string | undefined): string | null {
  const m = /^spec\.containers\{(.+)\}$/.exec(fieldPath ?? "");
  return m === null ? null : m[1]!;
}

export class KubernetesPodApi implements PodApi {
  readonly kind = "kubernetes" as const;
  readonly evaluatesProbes = true;
  readonly kc: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly logs: Log;
  private readonly followers = new Set<() => void>();

  /** `kc`: default loads KUBECONFIG / ~/.kube/config / the in-cluster service account. */
  constructor(kc?: KubeConfig) {
    this.kc = kc ?? (() => {
      const k = new KubeConfig();
      k.loadFromDefault();
      return k;
    })();
    this.core = this.kc.makeApiClient(CoreV1Api);
    this.logs = new Log(this.kc);
  }

  async create(m: PodManifests): Promise<void> {
    const ns = m.pod.metadata!.namespace!;
    for (const s of m.secrets) await this.core.createNamespacedSecret({ namespace: ns, body: s });
    await this.core.createNamespacedPod({ namespace: ns, body: m.pod });
  }

  async read(namespace: string, pod: string): Promise<PodObservation | null> {
    let p: V1Pod;
    try {
      p = await this.core.readNamespacedPod({ name: pod, namespace });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    return { phase: p.status?.phase ?? "Unknown", containers: (p.status?.containerStatuses ?? []).map(observeContainer) };
  }

  async events(namespace: string, pod: string): Promise<PodEvent[]> {
    const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${pod}` });
    return list.items.map((e) => ({
      container: containerOf(e.involvedObject.fieldPath),
      type: e.type === "Warning" ? "Warning" : "Normal",
      reason: e.reason ?? "",
      message: e.message ?? "",
      count: e.count ?? 1,
      firstTimestamp: ms(e.firstTimestamp ?? e.eventTime),
      lastTimestamp: ms(e.lastTimestamp ?? e.eventTime),
    }));
  }

  followLogs(namespace: string, pod: string, container: string, _containerId: string, sinceMs: number | null,
    onChunk: (stream: "stdout" | "stderr", chunk: Uint8Array) => void, onEnd: () => void): () => void {
    // The log API merges stdout and stderr; every line arrives as stdout.
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        onChunk("stdout", chunk);
        cb();
      },
    });
    let abort: AbortController | null = null;
    let stopped = false;
    const stop = () => {
      stopped = true;
      this.followers.delete(stop);
      abort?.abort();
    };
    sink.on("finish", () => {
      this.followers.delete(stop);
      onEnd();
    });
    this.logs.log(namespace, pod, container, sink, { follow: true, ...(sinceMs !== null ? { sinceTime: new Date(sinceMs).toISOString() } : {}) })
      .then((a) => {
        abort = a;
        if (stopped) a.abort();
      }, () => onEnd());
    this.followers.add(stop);
    return stop;
  }

  async remove(): Promise<void> {
    // stop() deleted it already.
  }

  async stop(namespace: string, pod: string, graceSeconds: number): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ name: pod, namespace, gracePeriodSeconds: graceSeconds });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    // Deletion is asynchronous: the Pod terminates (stop signal, grace, SIGKILL) and then goes.
    const deadline = Date.now() + (graceSeconds + 60) * 1000;
    while (Date.now() < deadline) {
      if ((await this.read(namespace, pod)) === null) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`Pod ${namespace}/${pod} still exists ${graceSeconds + 60} s after its deletion`);
  }

  /** Kubernetes kills no single container: the Pod is deleted with grace period 0 (which also shortens a deletion in flight). */
  async kill(namespace: string, pod: string, _containers: string[]): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ name: pod, namespace, gracePeriodSeconds: 0 });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async deleteSecrets(namespace: string, names: string[]): Promise<void> {
    for (const name of names) {
      await this.core.deleteNamespacedSecret({ name, namespace }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }

  async listOwned(namespace: string, ownerLabel: string, _namePrefix?: string, roomLabel?: string): Promise<{ pods: string[]; secrets: string[] }> {
    const labelSelector = `${KUBE_LABEL.owner}=${ownerLabel}${roomLabel === undefined ? "" : `,${KUBE_LABEL.room}=${roomLabel}`}`;
    const [pods, secrets] = await Promise.all([
      this.core.listNamespacedPod({ namespace, labelSelector }),
      this.core.listNamespacedSecret({ namespace, labelSelector }),
    ]);
    return { pods: pods.items.map((p) => p.metadata!.name!), secrets: secrets.items.map((s) => s.metadata!.name!) };
  }

  close(): void {
    for (const stop of [...this.followers]) stop();
  }
}
