import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Child, type ChildOptions } from "./proc.ts";
import type { BenchContext } from "./types.ts";
import type { Usage } from "./rpc.ts";

/** A scratch directory on the machine's temp filesystem (a real disk here: fsync counts). */
export async function scratchDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `rs-bench-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export const newSecret = () => randomBytes(24).toString("hex");

/** Which CPU a server / client child is pinned to (when pinning is on). */
export const SERVER_CPU = 0;
export const CLIENT_CPU = 1;

/**
 * Which server child to run for Roomservice. BENCH_RS_SERVER may name another script (path
 * relative to bench/) to benchmark an experimental server build the same way.
 */
export const RS_SERVER_SCRIPT = process.env.BENCH_RS_SERVER ?? "children/rs-server.ts";

/** Starts a Roomservice server child with its own data directory and secret. */
export async function startRoomservice(ctx: BenchContext, name: string, o: ChildOptions = {}): Promise<{ child: Child; url: string; secret: string; dataDir: string; remove(): Promise<void> }> {
  const dir = await scratchDir(name);
  const secret = newSecret();
  const child = await Child.start(name, RS_SERVER_SCRIPT, {
    ...o,
    env: { RS_SECRET: secret, RS_DATA_DIR: dir.path, ...o.env },
    profileDir: o.profileDir ?? ctx.profileDir,
  });
  return { child, url: String(child.info.url), secret, dataDir: dir.path, remove: dir.remove };
}

/** CPU microseconds spent between two usage samples. */
export const cpuDeltaUs = (a: Usage, b: Usage) => b.cpuUserUs + b.cpuSystemUs - (a.cpuUserUs + a.cpuSystemUs);
