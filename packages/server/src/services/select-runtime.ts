import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { createDockerRuntime, createSandboxRuntime, HELPER_SPAWN_BOUNDS, type HelperSpawnLimitOptions, type Runtime } from "@roomservice/runtime";
import { createPodRuntimeFromEnv } from "./pod-runtime-config.ts";

export type RuntimeMode = "auto" | "docker" | "sandbox" | "kubernetes" | "podman" | "none";

/**
 * Ready room namespaces kept by the runtime (ROOMSERVICE_ROOM_POOL): a session's start then
 * only creates its services. Docker: each costs one idle 129-byte pause process; sandbox: an
 * empty `ip netns`; both also keep a probe helper (one idle Node process) per entry.
 */
export const DEFAULT_ROOM_POOL = 2;

/**
 * Rooms whose next session the docker runtime prepares ahead (held service containers,
 * started and waiting for the session's token): the most recently used or configured ones.
 * Each costs its services' idle launchers (a few hundred KiB each) and a pause process.
 */
export const DEFAULT_PREPARED_ROOMS = 4;

/** The bounds on namespace-helper start-ups a runtime takes (netns/spawn-limit.ts). */
export type HelperSpawnConfig = Pick<HelperSpawnLimitOptions, "maxConcurrent" | "maxWaiters" | "queueTimeoutMs">;

/**
 * Environment variables for HelperSpawnLimit's bounds (docker and sandbox runtimes):
 * `ROOMSERVICE_HELPER_STARTS` helpers starting at once (default 2 × CPUs),
 * `ROOMSERVICE_HELPER_QUEUE` start-ups allowed to wait (default 1000),
 * `ROOMSERVICE_HELPER_QUEUE_TIMEOUT` seconds one may wait (default 120).
 */
export const HELPER_SPAWN_ENV = {
  maxConcurrent: "ROOMSERVICE_HELPER_STARTS",
  maxWaiters: "ROOMSERVICE_HELPER_QUEUE",
  queueTimeoutMs: "ROOMSERVICE_HELPER_QUEUE_TIMEOUT",
} as const;

/**
 * Reads HELPER_SPAWN_ENV from `env`; unset variables keep the runtime's defaults. Throws an
 * Error naming the variable, the range expected and the value given, e.g.
 * `ROOMSERVICE_HELPER_STARTS: expected an integer from 1 to 1024, got "0"`.
 */
export function helperSpawnConfigFromEnv(env: Record<string, string | undefined>): HelperSpawnConfig {
  const out: HelperSpawnConfig = {};
  for (const key of ["maxConcurrent", "maxWaiters", "queueTimeoutMs"] as const) {
    const name = HELPER_SPAWN_ENV[key];
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") continue;
    // The timeout is given in seconds; the runtime takes ms.
    const scale = key === "queueTimeoutMs" ? 1000 : 1;
    const min = HELPER_SPAWN_BOUNDS[key].min / scale;
    const max = HELPER_SPAWN_BOUNDS[key].max / scale;
    const n = Number(raw.trim());
    if (!/^\d+$/.test(raw.trim()) || n < min || n > max) {
      throw new Error(`${name}: expected an integer from ${min} to ${max}${scale === 1000 ? " (seconds)" : ""}, got ${JSON.stringify(raw)}`);
    }
    out[key] = n * scale;
  }
  return out;
}

/**
 * The owner id labels everything this installation creates (containers, namespaces, secret
 * files), so a restart can reap what a killed run left without touching other installations
 * that share the Docker daemon. Stable per data directory.
 */
export function ownerIdFor(dataDir: string): string {
  const file = join(dataDir, "owner-id");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(dataDir, { recursive: true });
  const id = `rs-${randomUUID().slice(0, 8)}`;
  writeFileSync(file, id + "\n");
  return id;
}

/**
 * Picks the runtime: Docker when its Engine API answers, else the bubblewrap sandbox when
 * usable, else none (rooms work; services report FailedStart). ROOMSERVICE_RUNTIME forces one.
 */
export async function selectRuntime(o: { mode: RuntimeMode; dataDir: string; logger: Logger; poolSize?: number; preparedRooms?: number; helperSpawns?: HelperSpawnConfig }): Promise<Runtime | null> {
  const ownerId = ownerIdFor(o.dataDir);
  const log = o.logger.child({ component: "runtime" });
  if (o.mode === "none") return null;
  if (o.mode === "kubernetes" || o.mode === "podman") return createPodRuntimeFromEnv(o.mode, ownerId, log);
  if (o.mode === "docker" || o.mode === "auto") {
    try {
      const rt = await createDockerRuntime({ ownerId, logger: log, poolSize: o.poolSize ?? DEFAULT_ROOM_POOL, preparedRooms: o.preparedRooms ?? DEFAULT_PREPARED_ROOMS, ...(o.helperSpawns === undefined ? {} : { helperSpawns: o.helperSpawns }) });
      log.info({ ownerId }, "using the docker runtime");
      return rt;
    } catch (err) {
      if (o.mode === "docker") throw new Error(`ROOMSERVICE_RUNTIME=docker but Docker is not reachable: ${(err as Error).message}. Start dockerd or pick another runtime.`, { cause: err });
      log.info({ reason: (err as Error).message }, "Docker not reachable; trying the sandbox runtime");
    }
  }
  let rt: Runtime;
  try {
    // The sandbox runtime checks its own prerequisites (root, bwrap, ip, nsenter).
    rt = await createSandboxRuntime({ ownerId, logger: log, poolSize: o.poolSize ?? DEFAULT_ROOM_POOL, ...(o.helperSpawns === undefined ? {} : { helperSpawns: o.helperSpawns }) });
  } catch (err) {
    const why = (err as Error).message;
    if (o.mode === "sandbox") throw new Error(`ROOMSERVICE_RUNTIME=sandbox but ${why}`, { cause: err });
    log.warn({ reason: why }, "no container runtime available: rooms work, services will not start");
    return null;
  }
  log.info({ ownerId }, "using the sandbox runtime (bubblewrap)");
  return rt;
}

export function parseRuntimeMode(v: string | undefined): RuntimeMode {
  const m = (v ?? "auto").toLowerCase();
  if (m === "auto" || m === "docker" || m === "sandbox" || m === "kubernetes" || m === "podman" || m === "none") return m;
  throw new Error(`ROOMSERVICE_RUNTIME must be auto, docker, sandbox, kubernetes, podman or none, got ${JSON.stringify(v)}`);
}
