/**
 * Plumbing for service tests: real Docker (or sandbox) runtime with a unique owner per test
 * file, the example images built from examples/ (FROM the local node base image), a server
 * wired to the runtime, and helpers to look inside containers.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { spawn, spawnSync } from "node:child_process";
import { pino } from "pino";
import { buildBaseImage, buildImage, createDockerRuntime, type Runtime } from "@roomservice/runtime";
import { startTestServer, type TestServer } from "./helpers.ts";
import { buildExampleImage, copyPackageClosure as copyClosure, exampleImageTag } from "../src/demo/example-images.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));


const EXAMPLES = {
  http: "http-echo", tcp: "tcp-echo", chat: "chat-agent", secret: "secret-reader",
  crm: "crm-sync", crmStandin: "crm-standin", mcp: "mcp-tools", pipeline: "pipeline", queue: "queue-worker",
} as const;

/**
 * Example image tags. Each tag carries a hash of its build context (and of the SDK version
 * for the agent), so an unchanged example is never rebuilt: building the agent image with
 * its node_modules takes seconds, reusing it takes none. The recipe is the demo project's
 * (src/demo/example-images.ts), so the tests and `serve`'s demo share builds.
 */
export const IMAGES: Record<keyof typeof EXAMPLES, string> = Object.fromEntries(
  Object.entries(EXAMPLES).map(([k, dir]) => [k, exampleImageTag(root, dir)]),
) as Record<keyof typeof EXAMPLES, string>;

/** Copies a package and its runtime dependencies (from the repo's node_modules) into dest. */
export function copyPackageClosure(name: string, dest: string): Promise<void> {
  return copyClosure(root, name, dest);
}

let built: Promise<void> | null = null;

/** Builds the base image and the example images once per process. */
export function buildExampleImages(runtime: Runtime & { docker?: unknown }): Promise<void> {
  built ??= (async () => {
    const docker = (runtime as unknown as { docker: Parameters<typeof buildImage>[0] }).docker;
    await buildBaseImage(docker);
    for (const [key, dir] of Object.entries(EXAMPLES) as [keyof typeof EXAMPLES, string][]) {
      await buildExampleImage(docker, { root, dir, tag: IMAGES[key] });
    }
  })();
  return built;
}

export interface ServicesEnv {
  ts: TestServer;
  runtime: Runtime;
  ownerId: string;
  logs: string[];
  addService(room: string | null, manifest: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/** A server on port 0 with a Docker runtime of its own owner id; captures server log lines. */
export async function startServicesServer(o: { departureTimeoutMs?: number; poolSize?: number; preparedRooms?: number; server?: Partial<Parameters<typeof startTestServer>[0]> } = {}): Promise<ServicesEnv> {
  const ownerId = `test-${randomBytes(4).toString("hex")}`;
  const logs: string[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void logs.push(s) });
  // A pool of one: the first room of a test takes a pooled namespace, later ones a fresh one.
  const runtime = await createDockerRuntime({ ownerId, logger: logger.child({ component: "runtime" }), poolSize: o.poolSize ?? 1, preparedRooms: o.preparedRooms ?? 0 });
  await buildExampleImages(runtime);
  const ts = await startTestServer({ runtime, logger, departureTimeoutMs: o.departureTimeoutMs ?? 500, ...o.server });
  return {
    ts,
    runtime,
    ownerId,
    logs,
    async addService(room, manifest) {
      const name = (manifest.metadata as { name: string }).name;
      return (await ts.server.services.create("default", room, name, manifest, Date.now())).id;
    },
    async close() {
      await ts.close();
      await runtime.reapOrphans(ownerId);
    },
  };
}

export function manifest(name: string, image: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { container, ...rest } = extra as { container?: Record<string, unknown> };
  return { version: "v1", kind: "Service", metadata: { name }, container: { image, ...(container ?? {}) }, ...rest };
}

/** `docker` CLI, for looking at what exists (labels, inspect) the way an operator would. */
export function docker(...args: string[]): string {
  const r = spawnSync("docker", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Containers of an owner (optionally of one room; pooled namespaces have room ""). */
export function labelled(ownerId: string, room?: string): string[] {
  const filters = ["--filter", `label=dev.roomservice.owner=${ownerId}`];
  if (room !== undefined) filters.push("--filter", `label=dev.roomservice.room=${room}`);
  return docker("ps", "-aq", "--no-trunc", ...filters).split("\n").filter(Boolean);
}

/**
 * Runs JS inside a service's container (images are FROM the node base: no shell). Async on
 * purpose: the server under test lives in this process and must keep serving meanwhile.
 */
export function execNode(containerId: string, code: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn("docker", ["exec", containerId, "/usr/local/bin/node", "-e", code], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
    child.on("close", (c) => {
      clearTimeout(timer);
      resolve({ code: c, out: out.trim(), err: err.trim() });
    });
  });
}

/**
 * The session's token as the service got it: delivered as /run/secrets/MESHAGENT_TOKEN and
 * exported by the container's launcher — never part of its config (`docker inspect`).
 */
export async function serviceToken(containerId: string): Promise<string> {
  const r = await execNode(containerId, "process.stdout.write(require('fs').readFileSync('/run/secrets/MESHAGENT_TOKEN','utf8'))");
  if (r.code !== 0 || r.out === "") throw new Error(`no token in ${containerId.slice(0, 12)}: ${r.err}`);
  return r.out;
}

export async function waitUntil<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
