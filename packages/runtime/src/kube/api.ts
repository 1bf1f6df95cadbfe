/**
 * What the Pod runtime needs from an engine that runs Kubernetes Pods. Two implementations:
 * the Kubernetes API (k8s-api.ts, @kubernetes/client-node) and `podman kube play`
 * (podman-api.ts), which runs the same Pod YAML on one machine with no cluster. Observations
 * use Kubernetes' own vocabulary (ContainerStatus: waiting/running/terminated, ready,
 * restartCount, lastState), converted to epoch milliseconds.
 */
import type { V1Secret } from "@kubernetes/client-node";
import type { PodManifests } from "./manifest.ts";

export type ContainerState =
  | { kind: "waiting"; reason: string; message: string }
  | { kind: "running"; startedAt: number }
  | { kind: "terminated"; exitCode: number; reason: string; startedAt: number; finishedAt: number };

/** Kubernetes' ContainerStatus, trimmed to what the runtime reads. */
export interface ContainerObservation {
  name: string;
  /** Engine container id of the current run; null before one exists. */
  id: string | null;
  state: ContainerState;
  ready: boolean;
  restartCount: number;
  /** The previous run's end (Kubernetes lastState.terminated), when it restarted. */
  last: { exitCode: number; reason: string; finishedAt: number } | null;
}

export interface PodObservation {
  /** Kubernetes Pod phase: Pending | Running | Succeeded | Failed | Unknown. */
  phase: string;
  containers: ContainerObservation[];
}

/** A Kubernetes Event about the Pod, already de-duplicated by the engine (count, first/last). */
export interface PodEvent {
  /** Container name (from involvedObject.fieldPath `spec.containers{name}`), or null for the Pod. */
  container: string | null;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  count: number;
  firstTimestamp: number;
  lastTimestamp: number;
}

export interface PodApi {
  readonly kind: "kubernetes" | "podman";
  /**
   * true: the Pod's readiness probes are run (by the kubelet; on podman by the backend itself)
   * and `ready` reflects them. false: `ready` only means the container runs.
   */
  readonly evaluatesProbes: boolean;
  /** Creates the Secrets, then the Pod. */
  create(m: PodManifests): Promise<void>;
  /** The Pod's container statuses; null once the Pod is gone. */
  read(namespace: string, pod: string): Promise<PodObservation | null>;
  /** Events about the Pod (an engine without an event API returns []). */
  events(namespace: string, pod: string): Promise<PodEvent[]>;
  /**
   * Follows one container's output from `sinceMs` (null: from its start) until it ends or
   * `stop()` is called. Chunks are raw bytes; `stream` is "stdout" when the engine merges them.
   */
  followLogs(namespace: string, pod: string, container: string, containerId: string, sinceMs: number | null,
    onChunk: (stream: "stdout" | "stderr", chunk: Uint8Array) => void, onEnd: () => void): () => void;
  /**
   * Stops the Pod's containers with this grace period (stop signal, wait, SIGKILL); resolves
   * once they have ended (Kubernetes: the Pod is deleted and gone; podman: stopped, still there
   * to read their exit codes from).
   */
  stop(namespace: string, pod: string, graceSeconds: number): Promise<void>;
  /**
   * Restarts one container of a running Pod in place (stop signal, grace period, SIGKILL, then
   * the same container again, reading its Secret files anew); resolves once it runs again.
   * Absent where the engine cannot (Kubernetes restarts a container only by itself): the
   * runtime then replaces the Pod.
   */
  restartContainer?(namespace: string, pod: string, container: string, graceSeconds: number): Promise<void>;
  /**
   * Stops one container of a running Pod (stop signal, grace period, SIGKILL) and leaves it in
   * the Pod, stopped and not restarted by the policy, until `restartContainer`. Absent where the
   * engine cannot (Kubernetes): the runtime then replaces the Pod.
   */
  stopContainer?(namespace: string, pod: string, container: string, graceSeconds: number): Promise<void>;
  /**
   * SIGKILL now to these containers of the Pod, without a grace period and without their restart
   * policy starting them again — also to containers already in the grace period of a `stop`,
   * `stopContainer` or `restartContainer` in flight, which then end at once (a room whose lease
   * was lost: `ServiceHandle.stop({kill})`). Resolves once the signal is sent. Kubernetes cannot
   * kill one container: there the Pod is deleted with grace period 0, all its containers with it.
   */
  kill(namespace: string, pod: string, containers: string[]): Promise<void>;
  /** Replaces a Secret's values (same name, same keys), as its mounted files show them. With `restartContainer`. */
  updateSecret?(secret: V1Secret): Promise<void>;
  /** Removes what `stop` left (podman: the stopped Pod). Idempotent. */
  remove(namespace: string, pod: string): Promise<void>;
  deleteSecrets(namespace: string, names: string[]): Promise<void>;
  /**
   * Names of the Pods and Secrets of one owner: labelled `roomservice.dev/owner=<ownerLabel>`
   * (or, where an engine keeps no labels on secrets, named with `namePrefix`); with `roomLabel`,
   * only those also labelled `roomservice.dev/room=<roomLabel>` (secrets without labels: those
   * of the sessions of the Pods found).
   */
  listOwned(namespace: string, ownerLabel: string, namePrefix: string, roomLabel?: string): Promise<{ pods: string[]; secrets: string[] }>;
  close(): void;
}
