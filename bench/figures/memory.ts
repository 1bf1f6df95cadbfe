/**
 * Issue #10 figure 6 — server memory per live room with a service, and memory across 1,000
 * sessions started and ended in a row (it must stay flat).
 *
 * The server runs in its own child (bench/children/rs-server-runtime.ts, --expose-gc) on the
 * sandbox runtime (bubblewrap + ip netns, pool of 2 as `serve` runs), so one session costs a
 * fraction of a second and 1,000 fit in a few minutes; the launcher, the session record, the
 * activity streams and the rooms are the same code as with Docker. SDK participants live in
 * the runner process. Memory is the child's own `heapUsed + external` after three full GCs
 * (live JS objects and ArrayBuffers); RSS is reported as an upper bound.
 *
 *   Live rooms: L rooms at once, one SDK participant each, one sandboxed service each
 *               (examples/http-echo on the host's node, running once /healthz answers); growth per room over the same
 *               server with no room open. Baseline: L live rooms with one participant and no
 *               service, on the same server in the same run.
 *   In a row:   a service configured for every room; session i = a participant joins room
 *               `seq-i` (a new room each time), waits until the service runs, leaves; the
 *               server ends the session (departure timeout 0) and stops the service. After a
 *               warm-up, memory is sampled every C sessions; the figure is the growth per
 *               session (least-squares slope) over the second half of the samples — growth
 *               still going on at the end — and the structures the server still holds at the
 *               end (rooms, activity feeds/sessions, runtime CPU readings: all 0 when nothing
 *               leaks). The slope over all samples and the slope without V8's code and trusted
 *               spaces are reported with it: over the first few hundred sessions V8 keeps
 *               compiling and optimizing (heap snapshots put that growth in code objects, and
 *               it stops; docs/benchmarks.md, figure 6), which a slope over all samples counts
 *               as a leak.
 */
import { fileURLToPath } from "node:url";
import { Child, stopAll } from "../lib/proc.ts";
import { row, type BenchContext, type Figure, type FigureResult, type Row } from "../lib/types.ts";
import { round } from "../lib/stats.ts";
import { scratchDir, newSecret } from "../lib/util.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import type { Usage } from "../lib/rpc.ts";
import { mintParticipantToken } from "@roomservice/server";
import { benchOwnerId } from "../lib/leftovers.ts";

const KiB = 1024;
const live = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;
const SERVER = fileURLToPath(new URL("../../examples/http-echo/server.mjs", import.meta.url));
/**
 * examples/http-echo with the host's node, ready when /healthz answers. (A service with
 * nothing to probe counts as ready only after it has run for 1 s, which would make the
 * sessions in a row mostly waiting.)
 */
const ECHO = (name: string) => ({
  version: "v1", kind: "Service", metadata: { name },
  container: { image: "host", command: `${process.execPath} ${SERVER}`, environment: [{ name: "PORT", value: "8080" }] },
  ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
});

/** Starts the runtime-backed server child; null (with the reason) when this machine cannot run the sandbox. */
export async function startRuntimeServer(ctx: BenchContext, name: string, o: { runtime: "sandbox" | "docker"; pool?: number; gc?: boolean }): Promise<{ child: Child; url: string; secret: string; remove(): Promise<void> } | { skipped: string }> {
  if (o.runtime === "sandbox" && process.getuid?.() !== 0) return { skipped: "the sandbox runtime needs root" };
  const dir = await scratchDir(name);
  const secret = newSecret();
  try {
    const child = await Child.start(name, "children/rs-server-runtime.ts", {
      env: { RS_SECRET: secret, RS_DATA_DIR: dir.path, RS_RUNTIME: o.runtime, RS_POOL: String(o.pool ?? 2), RS_OWNER: benchOwnerId(name) },
      execArgv: o.gc === true ? ["--expose-gc"] : [],
      profileDir: ctx.profileDir,
      // Reaping and filling the pool before it is ready take long on a loaded machine.
      readyTimeoutMs: 120_000,
    });
    return { child, url: String(child.info.url), secret, remove: dir.remove };
  } catch (err) {
    await dir.remove();
    const why = (err as Error).message;
    if (/needs (root|bwrap|ip|nsenter)|Docker is not reachable/.test(why)) return { skipped: why.split("\n")[0]! };
    throw err;
  }
}

/**
 * Bytes in V8's code-related heap spaces (getHeapSpaceStatistics): machine code (code_space,
 * code_large_object_space) and the trusted spaces (bytecode, relocation info, deoptimization
 * data). They grow while the JIT compiles and tiers up the paths a workload reaches.
 */
function v8CodeBytes(spaces: Record<string, number>): number {
  return ["code_space", "code_large_object_space", "trusted_space", "trusted_large_object_space"].reduce((n, k) => n + (spaces[k] ?? 0), 0);
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export const memory: Figure = {
  name: "memory",
  title: "Server memory per live room with a service; memory across 1,000 sessions in a row (sandbox runtime)",
  async run(ctx: BenchContext): Promise<FigureResult> {
    const L = ctx.quick ? 3 : 20;
    const warmup = ctx.quick ? 5 : 100;
    const N = ctx.quick ? 20 : 1000;
    const every = ctx.quick ? 10 : 100;
    const started = await startRuntimeServer(ctx, "memory-rs-server", { runtime: "sandbox", gc: true });
    if ("skipped" in started) {
      return { rows: [row({ metric: `memory — skipped: ${started.skipped}`, roomservice: null, unit: "KiB", better: "lower" })], details: { skipped: started.skipped } };
    }
    const { child, url, secret } = started;
    const usageAfterGc = () => child.call<Usage>("usage", { gc: true });
    const mem = async () => (await usageAfterGc()).mem;
    const join = async (room: string) => sdkClient(url, room, await mintParticipantToken(secret, { room, identity: "bench", role: "user", ttlSeconds: 3600 }));
    // One room after the other (each running before the next opens): what is measured is the
    // memory of L live rooms, not a burst (figure 7 measures bursts).
    const openRooms = async (rooms: string[], withService: boolean) => {
      const clients: any[] = [];
      for (const room of rooms) {
        clients.push(await join(room));
        if (withService) await child.call("waitRunning", { rooms: [room], n: 1, timeoutMs: 60_000 }, 90_000);
      }
      return clients;
    };
    const leaveAll = async (clients: any[], rooms: string[]) => {
      await Promise.all(clients.map((c) => disposeSdkClient(c)));
      await child.call("waitEnded", { rooms, timeoutMs: 60_000 }, 90_000);
    };
    const rows: Row[] = [];
    const details: Record<string, unknown> = { liveRooms: L, warmup, sessions: N, sampleEvery: every, runtime: "sandbox", pool: 2 };
    try {
      // ---- live rooms: idle (baseline) and with one service each ----
      // One round of each first, unrecorded: code paths compiled, the pool in steady state.
      for (const withService of ctx.quick ? [] : [false, true]) {
        const rooms = Array.from({ length: L }, (_, i) => `warm-${withService ? "svc" : "idle"}-${i}`);
        if (withService) for (const r of rooms) await child.call("addService", { room: r, name: "sleeper", manifest: ECHO("sleeper") });
        const clients = await openRooms(rooms, withService);
        await leaveAll(clients, rooms);
      }
      const perRoom: Record<string, { heapExternal: number; rss: number }> = {};
      for (const withService of [false, true]) {
        const label = withService ? "service" : "idle";
        const rooms = Array.from({ length: L }, (_, i) => `live-${label}-${i}`);
        if (withService) for (const r of rooms) await child.call("addService", { room: r, name: "sleeper", manifest: ECHO("sleeper") });
        await child.call("waitPool", null, 60_000);
        const before = await mem();
        const clients = await openRooms(rooms, withService);
        await new Promise((r) => setTimeout(r, 1500)); // the pool's delayed refill has run
        const after = await mem();
        perRoom[label] = { heapExternal: (live(after) - live(before)) / L, rss: (after.rss - before.rss) / L };
        ctx.log(`  ${L} live rooms, ${label}: ${(perRoom[label]!.heapExternal / KiB).toFixed(1)} KiB heap+external per room, RSS ${(perRoom[label]!.rss / KiB).toFixed(0)} KiB per room`);
        await leaveAll(clients, rooms);
      }
      details.perLiveRoom = Object.fromEntries(Object.entries(perRoom).map(([k, v]) => [k, { heapExternalKiB: round(v.heapExternal / KiB), rssKiB: round(v.rss / KiB) }]));
      rows.push(row({
        metric: `server memory per live room with 1 service, heap+external after GC (KiB; ${L} rooms; baseline: live room without services)`,
        roomservice: round(perRoom.service!.heapExternal / KiB), baseline: round(perRoom.idle!.heapExternal / KiB), unit: "KiB", better: "lower",
        note: `RSS growth per room ${round(perRoom.service!.rss / KiB)} KiB with a service, ${round(perRoom.idle!.rss / KiB)} KiB without (upper bound: allocator slack, pages V8 keeps)`,
      }));

      // ---- sessions in a row ----
      await child.call("addService", { room: null, name: "worker", manifest: ECHO("worker") });
      const one = async (i: number) => {
        const room = `seq-${i}`;
        const c = await join(room);
        await child.call("waitRunning", { rooms: [room], n: 1, timeoutMs: 30_000 }, 60_000);
        await leaveAll([c], [room]);
      };
      for (let i = 0; i < warmup; i++) await one(-1 - i);
      const xs: number[] = [];
      const heap: number[] = [];
      const rss: number[] = [];
      const code: number[] = [];
      const t0 = performance.now();
      for (let i = 0; i <= N; i++) {
        if (i % every === 0) {
          const u = await usageAfterGc();
          const m = u.mem;
          xs.push(i);
          heap.push(live(m));
          rss.push(m.rss);
          code.push(v8CodeBytes(u.spaces));
          ctx.log(`  after ${i} sessions: heap+external ${(live(m) / 2 ** 20).toFixed(2)} MiB, RSS ${(m.rss / 2 ** 20).toFixed(1)} MiB`);
        }
        if (i < N) await one(i);
      }
      const seconds = (performance.now() - t0) / 1000;
      const held = await child.call<Record<string, unknown>>("held");
      const perSession = slope(xs, heap);
      // The slope over the second half of the samples alone: growth that is still going on
      // at the end, as opposed to growth that happened early and stopped (V8 compiling and
      // optimizing code paths the first few hundred sessions reach).
      const half = Math.floor(xs.length / 2);
      const lateSlope = slope(xs.slice(half), heap.slice(half));
      const growth = heap.at(-1)! - heap[0]!;
      // The same without V8's code and trusted spaces (machine code, bytecode and their
      // metadata): the program's own objects.
      const nonCodeSlope = slope(xs, heap.map((h, i) => h - code[i]!));
      details.inARow = {
        seconds: round(seconds), samplesAt: xs, heapExternalBytes: heap, rssBytes: rss, v8CodeBytes: code, held,
        slopeBytesPerSession: round(perSession), secondHalfSlopeBytesPerSession: round(lateSlope), slopeWithoutV8CodeBytesPerSession: round(nonCodeSlope),
      };
      rows.push(row({
        metric: `server memory growth per session over the last ${N - xs[half]!} of ${N} sessions in a row, heap+external after GC (bytes/session, least-squares slope)`,
        // Quick mode (20 sessions after 5) measures mostly the JIT warming up: it keeps the
        // figure working in CI but does not judge the target.
        roomservice: round(lateSlope), unit: "bytes", better: "lower", target: ctx.quick ? "" : "flat: < 256 bytes/session", met: ctx.quick ? null : lateSlope < 256,
        note: `${ctx.quick ? "quick mode: too few sessions to judge (JIT warm-up dominates); " : ""}first → last sample ${(growth / KiB).toFixed(0)} KiB; slope over all samples ${round(perSession)} bytes/session; slope without V8's code/trusted spaces ${round(nonCodeSlope)} bytes/session (code/trusted spaces ${((code.at(-1)! - code[0]!) / KiB).toFixed(0)} KiB first → last); RSS ${((rss.at(-1)! - rss[0]!) / 2 ** 20).toFixed(1)} MiB (upper bound); held at the end: ${JSON.stringify(held)}; ${round(seconds / N * 1000)} ms per session`,
      }));
    } finally {
      await stopAll(child);
      await started.remove();
    }
    return { rows, details };
  },
};
