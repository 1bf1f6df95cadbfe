/**
 * Participant records — what writing joins and leaves to the session history costs the server
 * (perf round 3; issue #10's "speed is a feature, measured").
 *
 *   Roomservice: the rs-server child with its data directory on the machine's temp filesystem
 *                (ext4 on the benchmark machine: every fsync reaches the disk).
 *   Baseline:    the same server, same code and SQL, with its data directory on tmpfs
 *                (/dev/shm), where fsync returns at once: participant recording at memory
 *                speed. The ratio is what durability costs, not what the SQL costs.
 *
 * Two workloads, raw wire-protocol clients (bench/lib/raw-client.ts) in the runner, CONCURRENCY
 * connects in flight:
 *   one room:   P participants join one room, then all leave (one session, P joins, P leaves);
 *   many rooms: P participants each join a room of their own (P session starts), then leave
 *               (P session ends: the departure timeout is 100 ms here). The same P rooms each
 *               round, made in the warm-up: a room's first session seeds its storage with
 *               two fsyncs of its own, which is not what this figure compares.
 * Measured in the server child: CPU time over the join and leave phases (until every client
 * got `connected`, resp. every socket closed, plus 300 ms for writes scheduled on timers) and
 * the event-loop delay over them (bench/lib/rpc.ts: 20 ms monitor; an fsync holds the loop).
 * Rounds alternate which server goes first; ratios are medians of per-round ratios.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintParticipantToken } from "@roomservice/server";
import { Child, stopAll } from "../lib/proc.ts";
import { RawRoomClient } from "../lib/raw-client.ts";
import { row, type BenchContext, type Figure, type FigureResult } from "../lib/types.ts";
import { median, round } from "../lib/stats.ts";
import { newSecret, RS_SERVER_SCRIPT, SERVER_CPU, cpuDeltaUs } from "../lib/util.ts";
import type { Usage } from "../lib/rpc.ts";
import { OutsideLoadMeter, disturbed } from "../lib/machine.ts";

const CONCURRENCY = 20;
type Side = "disk" | "tmpfs";
type Workload = "one-room" | "many-rooms";

interface Server {
  side: Side;
  child: Child;
  url: string;
  secret: string;
  dir: string;
}

interface Phase {
  wallMs: number;
  cpuMs: number;
  loopDelayP99Ms: number | null;
  loopDelayMaxMs: number | null;
}

interface Measured {
  side: Side;
  workload: Workload;
  join: Phase;
  leave: Phase;
  /** History transactions / writes committed in the window (null on a build without the history writer). */
  history: { batches: number; ops: number } | null;
  outsideCores: number | null;
  disturbed: boolean;
}

async function startServer(ctx: BenchContext, side: Side): Promise<Server> {
  const base = side === "tmpfs" ? "/dev/shm" : tmpdir();
  const dir = await mkdtemp(join(base, `rs-bench-participants-${side}-`));
  const secret = newSecret();
  const child = await Child.start(`participants-${side}-server`, RS_SERVER_SCRIPT, {
    cpu: ctx.pin ? SERVER_CPU : null,
    // Sessions end 100 ms after their last participant left: inside the leave phase's window.
    env: { RS_SECRET: secret, RS_DATA_DIR: dir, RS_DEPARTURE_TIMEOUT_MS: "100" },
    profileDir: ctx.profileDir,
  });
  return { side, child, url: String(child.info.url), secret, dir };
}

/** Runs `jobs` with at most CONCURRENCY in flight. */
async function pool<T>(items: T[], fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const phase = (a: Usage, b: Usage, wallMs: number): Phase => ({
  wallMs: round(wallMs), cpuMs: round(cpuDeltaUs(a, b) / 1000),
  loopDelayP99Ms: b.loopDelayMs === null ? null : round(b.loopDelayMs.p99), loopDelayMaxMs: b.loopDelayMs === null ? null : round(b.loopDelayMs.max),
});

async function history(s: Server): Promise<{ batches: number; ops: number } | null> {
  return (await s.child.call<{ batches: number; ops: number } | null>("history").catch(() => null)) ?? null;
}

async function measure(s: Server, workload: Workload, participants: number, tag: string): Promise<Measured> {
  // Tokens first: minting is client-side work.
  const jobs = await Promise.all(Array.from({ length: participants }, async (_, i) => {
    // Many rooms: the same P rooms every round (sessions start and end in them each time);
    // the warm-up made them, so their storage is seeded (.schemas/thread.json, two fsyncs on
    // a room's first session) before anything is measured: only the history is compared.
    const room = workload === "one-room" ? `p-${tag}` : `p-many-${i}`;
    return { room, token: await mintParticipantToken(s.secret, { room, identity: `u${i}`, role: "user", ttlSeconds: 3600 }) };
  }));
  const meter = new OutsideLoadMeter([s.child.proc.pid!, process.pid]);
  const h0 = await history(s);
  const u0 = await s.child.call<Usage>("usage");
  meter.start();
  let t = performance.now();
  const clients: RawRoomClient[] = [];
  await pool(jobs, async (j) => {
    clients.push(await RawRoomClient.connect(s.url, j.room, j.token));
  });
  const joinWall = performance.now() - t;
  await new Promise((r) => setTimeout(r, 300));
  const u1 = await s.child.call<Usage>("usage");
  t = performance.now();
  await pool(clients, (c) => new Promise<void>((resolve) => {
    c.ws.once("close", () => resolve());
    c.close();
  }));
  const leaveWall = performance.now() - t;
  await new Promise((r) => setTimeout(r, 300));
  const u2 = await s.child.call<Usage>("usage");
  const outside = meter.stop();
  const h1 = await history(s);
  return {
    side: s.side, workload, join: phase(u0, u1, joinWall), leave: phase(u1, u2, leaveWall),
    history: h0 === null || h1 === null ? null : { batches: h1.batches - h0.batches, ops: h1.ops - h0.ops },
    outsideCores: outside === null ? null : round(outside.foreignCores + outside.stealCores), disturbed: disturbed(outside),
  };
}

export const participants: Figure = {
  name: "participants",
  title: "Participant records: joins and leaves with the history on disk vs the same server on tmpfs",
  async run(ctx): Promise<FigureResult> {
    if (!existsSync("/dev/shm")) {
      ctx.log("  skipped: the baseline needs a tmpfs at /dev/shm");
      return { rows: [], details: { skipped: "no tmpfs at /dev/shm for the baseline" } };
    }
    const P = ctx.quick ? 100 : 200;
    const rounds = ctx.quick ? 2 : 5;
    let disk: Server | null = null;
    let mem: Server | null = null;
    const all: Measured[] = [];
    try {
      disk = await startServer(ctx, "disk");
      mem = await startServer(ctx, "tmpfs");
      // Warm-up: one unrecorded round each (JIT, SQLite page cache, the many-rooms rooms' storage).
      for (const s of [disk, mem]) await measure(s, "many-rooms", P, "warm");
      for (let r = 0; r < rounds; r++) {
        for (const workload of ["one-room", "many-rooms"] as const) {
          const order = r % 2 === 0 ? [disk, mem] : [mem, disk];
          for (const s of order) {
            const m = await measure(s, workload, P, `${r}-${workload}`);
            all.push(m);
            ctx.log(
              `  round ${r + 1} ${workload} ${s.side}: join ${m.join.wallMs} ms wall, ${m.join.cpuMs} ms CPU, loop p99/max ${m.join.loopDelayP99Ms}/${m.join.loopDelayMaxMs} ms; ` +
                `leave ${m.leave.wallMs} ms wall, ${m.leave.cpuMs} ms CPU, loop max ${m.leave.loopDelayMaxMs} ms` +
                (m.history === null ? "" : `; history ${m.history.ops} writes in ${m.history.batches} transactions`) +
                (m.outsideCores === null ? "" : `; others ${m.outsideCores} cores${m.disturbed ? " (disturbed)" : ""}`),
            );
          }
        }
      }
    } finally {
      await stopAll(disk?.child, mem?.child);
      for (const s of [disk, mem]) if (s !== null) await rm(s.dir, { recursive: true, force: true });
    }
    const rows = [];
    for (const workload of ["one-room", "many-rooms"] as const) {
      const of = (side: Side) => all.filter((m) => m.workload === workload && m.side === side);
      const d = of("disk");
      const b = of("tmpfs");
      const pick = (f: (m: Measured) => number | null) => (xs: Measured[]) => median(xs.map(f).filter((x): x is number => x !== null));
      const perRound = (f: (m: Measured) => number | null) => median(d.map((m, i) => (f(m) ?? NaN) / (f(b[i]!) ?? NaN)).filter(Number.isFinite));
      const what = workload === "one-room" ? `${P} participants, one room` : `${P} participants, a room each`;
      const cpu = (m: Measured) => m.join.cpuMs + m.leave.cpuMs;
      rows.push(
        row({
          metric: `server CPU per participant, join + leave, ${what} (µs)`,
          roomservice: round((pick(cpu)(d) * 1000) / P), baseline: round((pick(cpu)(b) * 1000) / P), ratio: round(perRound(cpu)),
          unit: "µs", better: "lower", note: "baseline: the same server with its data directory on tmpfs (fsync free); ratio: median of per-round ratios",
        }),
        row({
          metric: `time to join, ${what} (ms)`,
          roomservice: round(pick((m) => m.join.wallMs)(d)), baseline: round(pick((m) => m.join.wallMs)(b)), ratio: round(perRound((m) => m.join.wallMs)),
          unit: "ms", better: "lower", note: `${CONCURRENCY} connects in flight, raw wire-protocol clients`,
        }),
        row({
          metric: `longest event-loop stall while joining, ${what} (ms)`,
          roomservice: round(pick((m) => m.join.loopDelayMaxMs)(d)), baseline: round(pick((m) => m.join.loopDelayMaxMs)(b)),
          unit: "ms", better: "lower", note: "monitorEventLoopDelay max over the join phase (20 ms timer)",
        }),
        row({
          metric: `longest event-loop stall while leaving (and ending sessions), ${what} (ms)`,
          roomservice: round(pick((m) => m.leave.loopDelayMaxMs)(d)), baseline: round(pick((m) => m.leave.loopDelayMaxMs)(b)),
          unit: "ms", better: "lower",
        }),
      );
    }
    return { rows, details: { participants: P, rounds, concurrency: CONCURRENCY, runs: all } };
  },
};
