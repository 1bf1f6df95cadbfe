/**
 * What killed benchmark runs leave behind. Every figure runs its runtimes under an owner id
 * of its own, and a run that is SIGKILLed (or hits a crash before its `finally`) leaves that
 * owner's containers — pause containers of the pool, held containers of prepared rooms —
 * running for ever, since no later run knows the random id. So owner ids say who made them:
 * `bench-<runner pid>-<what>-<random>` (benchOwnerId), and every run starts by reaping the
 * owners whose runner is gone (reapDeadBenchRuns). Other benchmark runs on the same Docker
 * daemon are left alone while their runner lives.
 *
 * Owner ids the figures made before this scheme (no pid: `bench-<8 hex>`, `bench-cc-…`,
 * `bench-sbx-…`, `bench-{memory,concurrency}-rs-server-…`) are reaped once they are older than
 * LEGACY_MAX_AGE_MS: the runner's watchdog ends every run within 45 min. Any other `bench-…`
 * id without a pid (someone's experiment) is never touched.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createDockerRuntime, createSandboxRuntime, defaultSecretsRoot, DockerEngine, LABEL } from "@roomservice/runtime";
import { pino } from "pino";

const quietLogger = pino({ level: "silent" });

/** Older than this, a benchmark owner without a runner pid is a dead run's (the watchdog is 45 min). */
export const LEGACY_MAX_AGE_MS = 60 * 60_000;

/** An owner id for a figure's runtime: `bench-<this runner's pid>-<what>-<random>`. */
export function benchOwnerId(what: string): string {
  return `bench-${process.pid}-${what}-${randomBytes(3).toString("hex")}`;
}

/** Whether `pid` is a live benchmark process (its command line runs something under bench/). */
function benchProcessAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("bench/");
  } catch {
    return false;
  }
}

/**
 * Whether the run that made `owner` is gone: its runner pid is no live benchmark process, or
 * (a figure's id from before, without a pid) it was made more than LEGACY_MAX_AGE_MS ago.
 * `createdAtMs`: when its oldest leftover was made. Ids not starting with "bench-" are never a
 * benchmark's.
 */
export function benchOwnerDead(owner: string, createdAtMs: number, now = Date.now()): boolean {
  if (!owner.startsWith("bench-")) return false;
  const m = /^bench-(\d+)-/.exec(owner);
  if (m !== null) return m[1] !== String(process.pid) && !benchProcessAlive(Number(m[1]));
  return LEGACY_FIGURE_OWNER.test(owner) && now - createdAtMs > LEGACY_MAX_AGE_MS;
}

/** The owner ids bench/run.ts's figures made before they carried the runner's pid. */
const LEGACY_FIGURE_OWNER = /^bench-((cc-|sbx-)?[0-9a-f]{8}|(memory|concurrency)-rs-server-[0-9a-f]{6})$/;

/**
 * Removes what dead benchmark runs left: their Docker containers, networks and secret files
 * (DockerRuntime.reapOrphans per owner), and — as root with bubblewrap — their sandbox
 * namespaces and secret files (found by their secrets directories). Returns the owners reaped.
 * Never throws: a failure is logged and the run goes on. `only` narrows the owners considered
 * (tests: their own).
 */
export async function reapDeadBenchRuns(log: (m: string) => void, o: { only?: (owner: string) => boolean } = {}): Promise<string[]> {
  const only = o.only ?? (() => true);
  const reaped: string[] = [];
  const docker = new DockerEngine();
  const owners = new Map<string, number>();
  try {
    if (!(await docker.ping())) throw new Error("no Docker daemon");
    const list = await docker.json<{ Labels?: Record<string, string>; Created: number }[]>({
      method: "GET", path: "/containers/json", query: { all: 1, filters: JSON.stringify({ label: [LABEL.owner] }) },
    });
    for (const c of list) {
      const owner = c.Labels?.[LABEL.owner];
      if (owner === undefined) continue;
      owners.set(owner, Math.min(owners.get(owner) ?? Infinity, c.Created * 1000));
    }
  } catch {
    // no Docker here: nothing of ours can be in it
  } finally {
    docker.close();
  }
  for (const [owner, createdAtMs] of owners) {
    if (!only(owner) || !benchOwnerDead(owner, createdAtMs)) continue;
    try {
      const rt = await createDockerRuntime({ ownerId: owner, logger: quietLogger });
      const r = await rt.reapOrphans(owner);
      await rt.close();
      reaped.push(owner);
      log(`   reaped a dead benchmark run's Docker leftovers (owner ${owner}): ${JSON.stringify(r)}`);
    } catch (err) {
      log(`   could not reap owner ${owner}: ${(err as Error).message}`);
    }
  }
  // Sandbox runs: each owner has a secrets directory; its namespaces carry a prefix derived from it.
  let dirs: string[] = [];
  try {
    dirs = readdirSync(defaultSecretsRoot()).filter((d) => d.startsWith("bench-") && !owners.has(d) && only(d));
  } catch {
    // no secrets root yet
  }
  for (const owner of dirs) {
    let made = Date.now();
    try {
      made = statSync(`${defaultSecretsRoot()}/${owner}`).mtimeMs;
    } catch {
      continue;
    }
    if (!benchOwnerDead(owner, made)) continue;
    try {
      const rt = await createSandboxRuntime({ ownerId: owner, logger: quietLogger });
      await rt.reapOrphans();
      await rt.close();
      reaped.push(owner);
      log(`   reaped a dead benchmark run's sandbox leftovers (owner ${owner})`);
    } catch {
      // not root or no bubblewrap: the sandbox figures cannot have run here either
    }
  }
  return reaped;
}
