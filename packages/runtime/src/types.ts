/**
 * The runtime surface: what the room server asks of a container runtime, and the shapes it
 * gets back. Every runtime (docker, sandbox, kubernetes pods) implements exactly this, so the
 * server never branches on which one it has. Nothing here names a Linux network namespace:
 * how a runtime reaches its rooms' loopback is its own detail.
 */
import type { Socket } from "node:net";

/** pino-compatible; the runtime never logs through a module-level logger. */
export interface Logger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * Wall clock for timestamps (ms since epoch), and optionally the timers the supervisor waits
 * on (restart backoff, stop grace period), so tests drive those without sleeping. Probes
 * still use real time.
 */
export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; returns a cancel function. Default: the real setTimeout. */
  setTimer?(fn: () => void, ms: number): () => void;
}

export type ProbeAction =
  | { kind: "http"; port: number; path: string; headers?: Array<{ name: string; value: string }> }
  | { kind: "tcp"; port: number }
  | { kind: "exec"; command: string[] };

/** Same shape as @roomservice/manifest's NormalizedProbe: durations in milliseconds. */
export interface Probe {
  action: ProbeAction;
  initialDelayMs: number;
  /** Interval after the first success (Kubernetes periodSeconds). */
  periodMs: number;
  /** Interval until the first success, so a room becomes ready in ~100 ms rather than 10 s. */
  startIntervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface ServiceLaunchSpec {
  serviceId: string;
  name: string;
  image: string;
  /** argv; undefined keeps the image's CMD. */
  command?: string[];
  workingDir?: string;
  /** Fully resolved by the server (includes MESHAGENT_* vars). Visible in `docker inspect`, except `sessionEnv`. */
  env: Record<string, string>;
  /**
   * Names of `env` entries whose values belong to this session only (its tokens, its id).
   * Docker delivers them as files read by its launcher at start, so they never appear in
   * `docker inspect` and a container can be created before its session (`prepareRoom`).
   */
  sessionEnv?: string[];
  /** name -> value, written 0400 into a per-service tmpfs dir mounted read-only at /run/secrets. */
  secretFiles: Record<string, string>;
  /**
   * Names of secretFiles also exported as environment variables of the same name. Docker:
   * set by a static launcher inside the container, so `docker inspect` never shows them.
   */
  secretEnv?: string[];
  mounts: { hostPath: string; containerPath: string; readOnly: boolean }[];
  /**
   * Files placed in the container (MeshAgent `container.storage.files`), `text` as UTF-8. A
   * read-only one cannot be written by the service; a writable one is the container's own
   * copy and starts from `text` at every container start (Pods: whenever the Pod is made).
   * Docker and sandbox keep them as per-session files beside the secret files (file-mounts.ts).
   */
  fileMounts?: { containerPath: string; text: string; readOnly: boolean }[];
  /**
   * Scratch directories (MeshAgent `container.storage.empty_dirs`), empty at every container
   * start — except in a Pod, where (as a Kubernetes emptyDir) one survives a restart of its
   * container and is emptied when the Pod is made. Bounded by EMPTY_DIR_SIZE_BYTES.
   */
  emptyDirs?: { containerPath: string; readOnly: boolean }[];
  /** `livenessPath` drives the port's liveness_status (HTTP GET, 200–399); it never restarts. */
  ports: { num: number; type: "http" | "tcp"; livenessPath?: string }[];
  probes: { startup?: Probe | undefined; readiness?: Probe | undefined; liveness?: Probe | undefined };
  restart: { policy: "always" | "on-failure" | "never"; initialBackoffMs: number; maxBackoffMs: number; resetAfterMs: number };
  /** signal: a name such as "SIGTERM" (default) — sent to PID 1 (the init), which forwards it. */
  stop: { signal: string; gracePeriodMs: number };
  /** `pids` is accepted as an alias of `pidsLimit` (the manifest package spells it so). */
  resources: { memoryBytes?: number | undefined; nanoCpus?: number | undefined; pidsLimit?: number | undefined; pids?: number | undefined };
  writableRootFs: boolean;
  /** Values masked as "****" in log lines (secretFiles values of 4+ chars are masked too). */
  secretValues?: string[];
}

export type LivenessStatus = "not_configured" | "not_ready" | "ready";

export interface ServiceEvent {
  type: "Normal" | "Warning";
  reason: EventReason;
  message: string;
  count: number;
  first_timestamp: number;
  last_timestamp: number;
}

export type EventReason =
  | "Created" | "Started" | "Ready" | "Unhealthy" | "BackOff" | "Killing" | "OOMKilled" | "Exited" | "FailedStart"
  // The server's MCP bridge (packages/server/src/mcp), shown on the service that declares the endpoint.
  | "McpConnected" | "McpFailed" | "McpToolsChanged"
  // The server's room.call webhooks to `meshagent` endpoints (packages/server/src/services/agent-webhooks.ts).
  | "WebhookCalled" | "WebhookFailed"
  // The server building a service's image on first use (packages/server/src/services/image-preparer.ts).
  | "Building" | "Built";

/**
 * Lifecycle states; within one container run they only move forward:
 * pending → starting → running (ready) ⇄ unhealthy → stopping → stopped | exited,
 * and backoff between runs. `failed` means the container could not be created or started
 * (see last_start_error) and will not be retried until `restart()`.
 */
export const ServiceStates = {
  pending: "pending",
  starting: "starting",
  running: "running",
  unhealthy: "unhealthy",
  backoff: "backoff",
  stopping: "stopping",
  stopped: "stopped",
  exited: "exited",
  failed: "failed",
} as const;
export type ServiceStateName = (typeof ServiceStates)[keyof typeof ServiceStates];

/** MeshAgent's ServiceRuntimeState, field for field. Timestamps are ms since epoch. */
export interface ServiceRuntimeState {
  service_id: string;
  state: ServiceStateName;
  container_id: string | null;
  started_at: number | null;
  restart_count: number;
  restart_scheduled_at: number | null;
  last_exit_code: number | null;
  last_exit_at: number | null;
  last_start_error: string | null;
  ports: { num: number; liveness_status: LivenessStatus; last_checked_at: number | null; last_error: string | null }[];
  /** Oldest first; a frozen snapshot shared by every reader of this state (copy to change it). */
  events: readonly ServiceEvent[];
}

export interface LogLine {
  serviceId: string;
  stream: "stdout" | "stderr";
  line: string;
  timestamp: number;
}

export interface StopResult {
  exitCode: number;
  reason: "exit" | "signal" | "oom";
}

export interface ServiceHandleEvents {
  state: (s: ServiceRuntimeState) => void;
  event: (e: ServiceEvent & { serviceId: string }) => void;
  log: (l: LogLine) => void;
  /** Every time a container run ends (crash, stop, liveness kill). */
  exit: (r: StopResult & { serviceId: string; containerId: string }) => void;
}

export interface ServiceHandle {
  readonly serviceId: string;
  status(): ServiceRuntimeState;
  on<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void;
  off<E extends keyof ServiceHandleEvents>(event: E, fn: ServiceHandleEvents[E]): void;
  /** Stops the current run (gracefully) and starts again, with `spec` if given. */
  restart(spec?: ServiceLaunchSpec): Promise<void>;
  /**
   * Stop signal, grace period, SIGKILL; removes the container. Idempotent. `kill`: SIGKILL at
   * once, no grace (also to a stop already in its grace period) — the room moved to another
   * node, whose copy of the service may already run.
   */
  stop(o?: StopOptions): Promise<void>;
  /** How the latest run ended (after stop(): how the stop went); null if none has ended. */
  lastExit(): StopResult | null;
}

/**
 * The Room API as one room's services see it: `url` is what they are given
 * (MESHAGENT_ROOM_URL), and every connection they open to it arrives as a socket at the
 * `onSocket` passed to `Runtime.openRoomApi` (docker, sandbox: a listener inside the room's
 * namespace; kubernetes: a sidecar in the Pod that dials back to this node).
 */
export interface RoomApiEndpoint {
  readonly url: string;
  /** Stops accepting new connections; sockets already handed over stay open. Idempotent. */
  close(): void;
}

/** TCP connections from the server to a port on a room's localhost (the MCP bridge). */
export interface ServiceConnector {
  /** A socket connected to the room's 127.0.0.1:`port`; rejects when nothing answers in `timeoutMs`. */
  connect(port: number, timeoutMs?: number): Promise<Socket>;
  /** Frees helpers; sockets already handed over stay open. */
  close(): void;
}

export interface RoomSandbox {
  readonly room: string;
  readonly sessionId: string;
  /** Non-blocking: the lifecycle runs asynchronously; failures become FailedStart events. */
  startService(spec: ServiceLaunchSpec): ServiceHandle;
  services(): ServiceHandle[];
  /** Stops every service (in parallel), then removes the room's namespace holder and secrets. Idempotent. */
  stop(): Promise<void>;
  /**
   * `fn(reason)` runs once if the room's namespace holder disappears from outside (Docker:
   * the pause container died or was removed by someone else). The sandbox cannot start
   * services any more; the caller stops it and builds a new one. Not every runtime reports it.
   */
  onLost?(fn: (reason: string) => void): void;
  /** Connections into the room's localhost for the server's own clients; absent when the runtime cannot. */
  openConnector?(log: Logger): ServiceConnector;
}

/** How ServiceHandle.stop ends a service. */
export interface StopOptions {
  kill?: boolean;
}

export interface ReapResult {
  containers: number;
  networks: number;
  files: number;
}

export interface Runtime {
  readonly kind: "docker" | "sandbox" | "kubernetes" | "podman";
  /** Removes what an earlier run of `ownerId` (default: this runtime's owner) left behind. */
  reapOrphans(ownerId?: string): Promise<ReapResult>;
  /**
   * Removes one room's service and namespace containers of another owner (a cluster node that
   * lost the room's lease) from this runtime's engine, if any are there; pooled and prepared
   * ones are left to that owner. For runtimes whose services live on a shared engine (Docker).
   */
  reapRoom?(ownerId: string, room: string): Promise<ReapResult>;
  createRoomSandbox(o: { room: string; sessionId: string }): Promise<RoomSandbox>;
  /**
   * Makes the Room API reachable from the sandbox's services: sockets they open to the
   * returned `url` are passed to `onSocket` (the server feeds them to its HTTP server).
   */
  openRoomApi(sandbox: RoomSandbox, onSocket: (socket: Socket) => void): Promise<RoomApiEndpoint>;
  /** Releases sockets and helpers this runtime holds; does not stop sandboxes. */
  close(): Promise<void>;
  /** Prepares ready room namespaces ahead of sessions (call after reapOrphans), if supported. */
  prewarm?(): void;
  /**
   * Prepares `room`'s next session ahead of time (Docker: its service containers created and
   * started, waiting for the session's values); `specs` as the session would launch them,
   * with placeholder `sessionEnv` values. Replaces what was prepared for the room; an empty
   * list drops it. Best effort: a session whose specs differ starts those services normally.
   */
  prepareRoom?(room: string, specs: ServiceLaunchSpec[]): void;
  /**
   * Rooms whose next session is prepared or being prepared (bounded by the runtime), least
   * recently prepared first; with `prepareRoom`. A project-wide configuration change
   * re-prepares exactly these (the caller keeps no list of its own, which would grow with
   * every room that ever had a session).
   */
  preparedRoomNames?(): string[];
}
