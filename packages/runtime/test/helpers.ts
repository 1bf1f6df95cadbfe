/**
 * Shared test plumbing: a real Docker runtime with a unique owner per test file, the test
 * app image (built once per file, from the FROM-scratch node base image), spec builders,
 * and polling helpers. Every test file calls `setup()` and registers `cleanup` in `after`.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildBaseImage, buildImage, createDockerRuntime, LABEL, type DockerRuntime, type LogLine, type Logger, type ServiceHandle, type ServiceLaunchSpec } from "../src/index.ts";

export const APP_IMAGE = "roomservice-test/app:1";
const APP_DIR = fileURLToPath(new URL("./fixtures/app", import.meta.url));
export const NODE = "/usr/local/bin/node";

/** Quiet unless RS_TEST_LOG=1; warnings and errors are kept for failure messages. */
export function testLogger(bindings: Record<string, unknown> = {}): Logger {
  const verbose = process.env.RS_TEST_LOG === "1";
  const out = (level: string) => (obj: unknown, msg?: string) => {
    if (verbose || level === "error") process.stderr.write(`${level} ${msg ?? ""} ${safeJson({ ...bindings, ...(obj as object) })}\n`);
  };
  return { info: out("info"), warn: out("warn"), error: out("error"), debug: out("debug"), child: (b) => testLogger({ ...bindings, ...b }) };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (x instanceof Error ? { message: x.message, stack: x.stack } : x));
  } catch {
    return String(v);
  }
}

export interface TestEnv {
  runtime: DockerRuntime;
  ownerId: string;
  cleanup(): Promise<void>;
}

export async function setup(): Promise<TestEnv> {
  const ownerId = `test-${randomBytes(4).toString("hex")}`;
  const runtime = await createDockerRuntime({ ownerId, logger: testLogger({ owner: ownerId }) });
  await buildBaseImage(runtime.docker);
  await buildImage(runtime.docker, APP_DIR, APP_IMAGE);
  return {
    runtime,
    ownerId,
    async cleanup() {
      // Anything a failed test left behind goes too; then prove nothing labelled remains.
      await runtime.reapOrphans(ownerId);
      await runtime.close();
    },
  };
}

export function spec(serviceId: string, script: string, over: Partial<ServiceLaunchSpec> = {}): ServiceLaunchSpec {
  return {
    serviceId,
    name: serviceId,
    image: APP_IMAGE,
    command: [NODE, `/app/${script}`],
    env: {},
    secretFiles: {},
    mounts: [],
    ports: [],
    probes: {},
    restart: { policy: "never", initialBackoffMs: 100, maxBackoffMs: 1000, resetAfterMs: 60_000 },
    stop: { signal: "SIGTERM", gracePeriodMs: 5000 },
    resources: { memoryBytes: 256 * 1024 * 1024, pidsLimit: 128 },
    writableRootFs: false,
    ...over,
  };
}

export function tcpProbe(port: number) {
  return { action: { kind: "tcp" as const, port }, initialDelayMs: 0, periodMs: 10_000, startIntervalMs: 100, timeoutMs: 1000, failureThreshold: 3, successThreshold: 1 };
}

/** Polls until `fn` returns a truthy value; the timeout only bounds a hung test. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Collects a handle's log lines (from the moment of the call). */
export function collectLogs(h: ServiceHandle): LogLine[] {
  const lines: LogLine[] = [];
  h.on("log", (l) => lines.push(l));
  return lines;
}

export async function resultLine(lines: LogLine[]): Promise<Record<string, { ok: boolean; body?: string; error?: string }>> {
  const l = await waitFor("a RESULT line", () => lines.find((x) => x.line.startsWith("RESULT ")));
  return JSON.parse(l.line.slice("RESULT ".length));
}

export async function labelledContainers(env: TestEnv): Promise<{ Id: string; Labels: Record<string, string> }[]> {
  return env.runtime.docker.json({
    method: "GET", path: "/containers/json", query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.owner}=${env.ownerId}`] }) },
  });
}

/**
 * An exec probe command that never ends by itself and records, as it starts, whether an
 * earlier check's process is still running: each check writes its pid into `dir` (as seen
 * inside the room) and appends to `dir`/overlap the pids of earlier checks still alive (not
 * zombies). So "at most one probe process at a time" is checked by the probes themselves at
 * the moment a new one starts — no sampling, no timing.
 */
export function overlapRecordingProbe(node: string, dir: string): string[] {
  const code = `const fs = require("fs"); const d = ${JSON.stringify(dir)};
    for (const f of fs.readdirSync(d)) {
      if (!/^[0-9]+$/.test(f)) continue;
      let stat = ""; try { stat = fs.readFileSync("/proc/" + f + "/stat", "utf8"); } catch {}
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (stat !== "" && state !== "Z" && state !== "X") fs.appendFileSync(d + "/overlap", f + " still running when " + process.pid + " started\\n");
    }
    fs.writeFileSync(d + "/" + process.pid, "");
    setTimeout(() => {}, 60000);`;
  return [node, "-e", code];
}

/** How many checks of an overlapRecordingProbe have started, and what overlaps they saw (host side of its directory). */
export function probeRecord(hostDir: string): { started: number; overlaps: string } {
  const files = readdirSync(hostDir);
  return { started: files.filter((f) => /^[0-9]+$/.test(f)).length, overlaps: files.includes("overlap") ? readFileSync(join(hostDir, "overlap"), "utf8") : "" };
}
