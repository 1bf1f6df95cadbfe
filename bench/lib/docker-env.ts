/**
 * Shared set-up for the Docker figures: an in-process Roomservice server on a real Docker
 * runtime, and the small HTTP service image (examples/http-echo) both sides start.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { buildBaseImage, buildImage, createDockerRuntime, type DockerRuntime } from "@roomservice/runtime";
import { startRoomServer, type RoomServer } from "@roomservice/server";
import { benchOwnerId } from "./leftovers.ts";

export const HTTP_IMAGE = "roomservice-bench/http-echo:1";
const EXAMPLE = fileURLToPath(new URL("../../examples/http-echo", import.meta.url));

export interface DockerBenchEnv {
  server: RoomServer;
  runtime: DockerRuntime;
  ownerId: string;
  secret: string;
  close(): Promise<void>;
}

/** Quiet logger satisfying both pino (server) and the runtime's Logger. */
export const quietLogger = pino({ level: "silent" });

export async function ensureHttpImage(runtime: DockerRuntime): Promise<void> {
  await buildBaseImage(runtime.docker);
  await buildImage(runtime.docker, EXAMPLE, HTTP_IMAGE);
}

export async function startDockerServer(o: { poolSize: number; preparedRooms?: number }): Promise<DockerBenchEnv> {
  const ownerId = benchOwnerId("docker");
  const runtime = await createDockerRuntime({ ownerId, logger: quietLogger, poolSize: o.poolSize, preparedRooms: o.preparedRooms ?? 0 });
  await ensureHttpImage(runtime);
  const dataDir = await mkdtemp(join(tmpdir(), "rs-bench-docker-"));
  const secret = randomBytes(24).toString("hex");
  const server = await startRoomServer({ dataDir, host: "127.0.0.1", port: 0, logger: quietLogger, secret, runtime, departureTimeoutMs: 0 });
  return {
    server, runtime, ownerId, secret,
    async close() {
      await server.close();
      const again = await createDockerRuntime({ ownerId, logger: quietLogger });
      await again.reapOrphans(ownerId);
      await again.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A manifest for one small HTTP service on `port`, ready when /healthz answers. */
export function httpService(name: string, port: number): Record<string, unknown> {
  return {
    version: "v1", kind: "Service", metadata: { name },
    container: { image: HTTP_IMAGE, environment: [{ name: "PORT", value: String(port) }] },
    ports: [{ num: port, type: "http", liveness: "/healthz" }],
  };
}

export async function waitUntil(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 2): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
