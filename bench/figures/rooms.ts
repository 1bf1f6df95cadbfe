/**
 * Issue #10 figures 1–3 (Docker): a room's services from the first participant's
 * `RoomClient.start()` until each of N services (Node + the @meshagent/meshagent SDK, image
 * bench/images/sdk-service) has loaded the SDK, listens, joined the room and broadcast a
 * message the participant receives — against the same containers started without
 * Roomservice (bench/lib/room-baselines.ts):
 *
 *   1. cold start, N = 1, 5, 10: the room's first session since its services were saved.
 *      Baselines (a) the Engine API directly (pause + N in parallel, until each listens) and
 *      (b) `docker-compose up` of the same services (until each prints "listening").
 *   2. warm restart: the session ends and a new one starts 1 s later; time to ready, against
 *      the same run's (a).
 *   3. session end → every container of the session gone (departure timeout 0, so it is not
 *      counted), against `docker stop` + `rm` of the baseline's containers.
 *
 * Each repetition runs Roomservice and the baselines back to back, alternating which goes
 * first; the tables show medians, the ratios are medians of per-repetition ratios.
 */
import { mintParticipantToken } from "@roomservice/server";
import type { ServiceRuntimeState } from "@roomservice/runtime";
import { row, type BenchContext, type Figure, type FigureResult, type Row } from "../lib/types.ts";
import { summarize, roundSummary, round, median } from "../lib/stats.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { startDockerServer, waitUntil, type DockerBenchEnv } from "../lib/docker-env.ts";
import { ensureSdkServiceImage } from "../lib/sdk-image.ts";
import { composeRun, rawEngineRun, type StartCpu } from "../lib/room-baselines.ts";
import { containerCpuMs, daemonsCpuMs, selfCpuMs } from "../lib/cpu-accounting.ts";

const POOL = 2;
/**
 * BENCH_ROOMS_PROFILE=<dir>: a CPU profile of this process (server + participant) for each
 * Roomservice cold start, from start() until every broadcast arrived — the window the figure
 * times, nothing else (summarize with `node bench/lib/cpuprofile.ts <file>`).
 */
const PROFILE_DIR = process.env.BENCH_ROOMS_PROFILE;

async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (PROFILE_DIR === undefined) return fn();
  const { Session } = await import("node:inspector/promises");
  const { mkdir, writeFile } = await import("node:fs/promises");
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  await session.post("Profiler.start");
  try {
    return await fn();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    await mkdir(PROFILE_DIR, { recursive: true });
    await writeFile(`${PROFILE_DIR}/${name}.cpuprofile`, JSON.stringify(profile));
  }
}
/** As `serve` runs by default (select-runtime.ts); BENCH_ROOMS_PREPARED=0 measures without. */
const PREPARED = process.env.BENCH_ROOMS_PREPARED === "0" ? 0 : 4;

function sdkService(image: string, name: string, port: number): Record<string, unknown> {
  return {
    version: "v1", kind: "Service", metadata: { name },
    container: { image, environment: [{ name: "PORT", value: String(port) }] },
    ports: [{ num: port, type: "http", liveness: "/healthz" }],
  };
}

interface Ready {
  port: number;
  session: string | null;
  tokenSha256: string;
  tmp: string[];
}

/** One session: the participant joins, waits for N "bench.ready" broadcasts, leaves. */
/**
 * When every service of `room` has its process running (state "starting" or later: the
 * container was started, or a held one got its start file), ms after performance.timeOrigin.
 */
function allLaunched(env: DockerBenchEnv, room: string, n: number): Promise<number> {
  return new Promise((resolve) => {
    const seen = new Set<string>();
    const on = (e: { room: string; handle: { on(ev: "state", fn: (s: ServiceRuntimeState) => void): void } }) => {
      if (e.room !== room) return;
      e.handle.on("state", (st: ServiceRuntimeState) => {
        if (st.state !== "starting" && st.state !== "running") return;
        seen.add(st.service_id);
        if (seen.size === n) {
          env.server.launcher.serviceStarted.off("started", on);
          resolve(performance.now());
        }
      });
    };
    env.server.launcher.serviceStarted.on("started", on);
  });
}

async function roomserviceSession(env: DockerBenchEnv, room: string, n: number): Promise<{ startMs: number; launchedMs: number; endMs: number; ready: Ready[]; cpu: StartCpu }> {
  const { server } = env;
  const token = await mintParticipantToken(env.secret, { room, identity: "bench", role: "user", ttlSeconds: 600 });
  const got = new Map<number, Ready>();
  let allReady!: () => void;
  const all = new Promise<void>((r) => (allReady = r));
  const launched = allLaunched(env, room, n);
  const t0 = performance.now();
  const self0 = selfCpuMs();
  const daemons0 = daemonsCpuMs();
  const client = await sdkClient(server.url, room, token);
  client.messaging.on("message", (e: { message: { type: string; message: Ready } }) => {
    if (e.message.type !== "bench.ready") return;
    got.set(e.message.message.port, e.message.message);
    if (got.size === n) allReady();
  });
  client.messaging.enable();
  const timeout = setTimeout(() => allReady(), 60_000);
  await all;
  clearTimeout(timeout);
  const startMs = performance.now() - t0;
  const ids = (await server.launcher.list(room)).service_states.map((st) => st.container_id).filter((x): x is string => x !== null);
  const cpu = { self: selfCpuMs() - self0, daemons: daemonsCpuMs() - daemons0, containers: ids.reduce((a, id) => a + containerCpuMs(id), 0) };
  if (got.size < n) {
    const states = (await server.launcher.list(room)).service_states.map((s) => `${s.service_id.slice(0, 8)}: ${s.state} ${s.last_start_error ?? ""}`);
    await disposeSdkClient(client);
    throw new Error(`only ${got.size} of ${n} services broadcast within 60 s (${states.join("; ")})`);
  }
  const stopped = new Promise<number>((resolve) => {
    const on = (e: { room: string }) => {
      if (e.room !== room) return;
      server.launcher.stopped.off("stopped", on);
      resolve(performance.now());
    };
    server.launcher.stopped.on("stopped", on);
  });
  const ended = new Promise<number>((resolve) => {
    const on = (e: { type: string; room: string }) => {
      if (e.type !== "session.ended" || e.room !== room) return;
      server.rooms.events.off("event", on);
      resolve(performance.now());
    };
    server.rooms.events.on("event", on);
  });
  await disposeSdkClient(client);
  const endAt = await ended;
  const endMs = (await stopped) - endAt;
  return { startMs, launchedMs: (await launched) - t0, endMs, ready: [...got.values()], cpu };
}

/** The runtime's optional "prepared ahead" state (pre-created containers), if it has one. */
function runtimeIdle(env: DockerBenchEnv): boolean {
  return env.runtime.pooled >= POOL && env.runtime.preparing === 0;
}

export const rooms: Figure = {
  name: "rooms",
  title: "Room cold start, warm restart and session end with N SDK services, vs the Engine API and docker-compose",
  requires: "docker",
  async run(ctx: BenchContext): Promise<FigureResult> {
    const sizes = ctx.quick ? [5] : (process.env.BENCH_ROOMS_SIZES ?? "1,5,10").split(",").map(Number);
    const reps = ctx.quick ? 2 : Number(process.env.BENCH_ROOMS_REPS ?? 6);
    const withCompose = process.env.BENCH_ROOMS_COMPOSE !== "0";
    const env = await startDockerServer({ poolSize: POOL, preparedRooms: PREPARED });
    const docker = env.runtime.docker;
    const image = await ensureSdkServiceImage(docker);
    const rows: Row[] = [];
    const details: Record<string, unknown> = { reps, pool: POOL, preparedRooms: PREPARED, image };
    let roomNo = 0;
    const configure = async (n: number): Promise<string> => {
      const room = `r${roomNo++}-n${n}`;
      for (let i = 0; i < n; i++) await env.server.services.create("default", room, `svc-${i}`, sdkService(image, `svc-${i}`, 8080 + i), Date.now());
      return room;
    };
    const settle = () => waitUntil("runtime idle (pool refilled, rooms prepared)", () => runtimeIdle(env), 60_000, 10);
    // A room whose services were saved a while ago: its first session finds it prepared.
    const prepared = async (room: string) => {
      if (PREPARED > 0) await waitUntil(`room ${room} prepared`, () => env.runtime.isPrepared(room), 60_000, 10);
      await settle();
    };
    try {
      env.runtime.prewarm();
      // One untimed warm-up of each side (image layers in the page cache, helpers compiled).
      const warmRoom = await configure(1);
      await prepared(warmRoom);
      await roomserviceSession(env, warmRoom, 1);
      await rawEngineRun(docker, { image, n: 1, owner: env.ownerId, tag: "warmup" });
      if (withCompose && !ctx.quick) await composeRun({ image, n: 1, owner: env.ownerId, tag: "warmup" });
      for (const n of sizes) {
        const s = { launched: [] as number[], rawLaunched: [] as number[], cold: [] as number[], warm: [] as number[], end: [] as number[], raw: [] as number[], rawEnd: [] as number[], compose: [] as number[] };
        const cpu = { cold: [] as StartCpu[], raw: [] as StartCpu[] };
        const ratios = { cold: [] as number[], coldCompose: [] as number[], warm: [] as number[], end: [] as number[] };
        const composeThisRep = (r: number) => withCompose && (!ctx.quick || r === 0);
        for (let r = 0; r < reps; r++) {
          const rsFirst = r % 2 === 0;
          let raw = { startMs: NaN, launchedMs: NaN, endMs: NaN, cpu: { self: NaN, daemons: NaN, containers: NaN } };
          let comp = { startMs: NaN, downMs: NaN };
          const baselines = async () => {
            raw = await rawEngineRun(docker, { image, n, owner: env.ownerId, tag: `${n}-${r}` });
            if (composeThisRep(r)) comp = await composeRun({ image, n, owner: env.ownerId, tag: `${n}x${r}` });
          };
          if (!rsFirst) await baselines();
          const room = await configure(n);
          await prepared(room);
          const cold = await profiled(`cold-n${n}-${r}`, () => roomserviceSession(env, room, n));
          await new Promise((res) => setTimeout(res, 1000));
          const warm = await roomserviceSession(env, room, n);
          checkIsolation(cold.ready, warm.ready);
          await settle();
          if (rsFirst) await baselines();
          cpu.cold.push(cold.cpu);
          cpu.raw.push(raw.cpu);
          s.launched.push(cold.launchedMs);
          s.rawLaunched.push(raw.launchedMs);
          s.cold.push(cold.startMs);
          s.warm.push(warm.startMs);
          s.end.push(cold.endMs, warm.endMs);
          s.raw.push(raw.startMs);
          s.rawEnd.push(raw.endMs);
          ratios.cold.push(cold.startMs / raw.startMs);
          ratios.warm.push(warm.startMs / raw.startMs);
          ratios.end.push(median([cold.endMs, warm.endMs]) / raw.endMs);
          if (!Number.isNaN(comp.startMs)) {
            s.compose.push(comp.startMs);
            ratios.coldCompose.push(cold.startMs / comp.startMs);
          }
          ctx.log(`  N=${n} rep ${r + 1}/${reps}: cold ${cold.startMs.toFixed(0)} ms, warm ${warm.startMs.toFixed(0)} ms, end ${cold.endMs.toFixed(0)}/${warm.endMs.toFixed(0)} ms | raw ${raw.startMs.toFixed(0)} ms (stop+rm ${raw.endMs.toFixed(0)} ms)${Number.isNaN(comp.startMs) ? "" : ` | compose ${comp.startMs.toFixed(0)} ms`}`);
        }
        const sum = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.length > 0 ? roundSummary(summarize(v)) : null]));
        const cpuMedians = (xs: StartCpu[]) => ({ self: round(median(xs.map((x) => x.self))), daemons: round(median(xs.map((x) => x.daemons))), containers: round(median(xs.map((x) => x.containers))) });
        details[`n${n}`] = { ...sum, cpuMs: { roomservice: cpuMedians(cpu.cold), raw: cpuMedians(cpu.raw) }, ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, v.map((x) => round(x, 3))])) };
        const p50 = (xs: number[]) => round(median(xs));
        const coldRatio = median(ratios.cold);
        rows.push(row({
          metric: `1. cold start N=${n} vs Engine API, median ms`,
          roomservice: p50(s.cold), baseline: p50(s.raw), unit: "ms", better: "lower", ratio: coldRatio,
          target: n === 5 ? "≤ 0.8×" : "", met: n === 5 ? coldRatio <= 0.8 : null,
          note: `per-rep ratios ${ratios.cold.map((x) => x.toFixed(2)).join(", ")}`,
        }));
        if (s.compose.length > 0) {
          rows.push(row({
            metric: `1. cold start N=${n} vs docker-compose up, median ms`,
            roomservice: p50(s.cold), baseline: p50(s.compose), unit: "ms", better: "lower", ratio: median(ratios.coldCompose),
          }));
        }
        rows.push(row({
          metric: `2. warm restart N=${n} (new session 1 s after the last) vs Engine API cold, median ms`,
          roomservice: p50(s.warm), baseline: p50(s.raw), unit: "ms", better: "lower", ratio: median(ratios.warm),
        }));
        rows.push(row({
          metric: `cold start N=${n}: until every service's process runs (Docker's share), median ms`,
          roomservice: p50(s.launched), baseline: p50(s.rawLaunched), unit: "ms", better: "lower",
          note: "Roomservice: participant's start() until every service is 'starting' (held container given its start file, or container started); baseline: until every start call returned",
        }));
        const c = { rs: cpuMedians(cpu.cold), raw: cpuMedians(cpu.raw) };
        rows.push(row({
          metric: `CPU during cold start N=${n}: containers / dockerd+containerd / server process (ms, median)`,
          roomservice: c.rs.containers, baseline: c.raw.containers, unit: "ms", better: "lower",
          note: `dockerd+containerd ${c.rs.daemons} vs ${c.raw.daemons} ms; this process (Roomservice server + participant, or the baseline's prober) ${c.rs.self} vs ${c.raw.self} ms`,
        }));
        const endRatio = median(ratios.end);
        rows.push(row({
          metric: `3. session end N=${n} → containers gone vs docker stop + rm, median ms`,
          roomservice: p50(s.end), baseline: p50(s.rawEnd), unit: "ms", better: "lower", ratio: endRatio,
          target: "≤ 1.1×", met: endRatio <= 1.1,
        }));
      }
    } finally {
      await env.close();
    }
    return { rows, details };
  },
};

/** A container must never carry another session's values (tokens, session ids, /tmp files). */
function checkIsolation(first: Ready[], second: Ready[]): void {
  const firstTokens = new Set(first.map((r) => r.tokenSha256));
  const firstSession = first[0]?.session;
  for (const r of second) {
    if (firstTokens.has(r.tokenSha256)) throw new Error(`service on port ${r.port} saw the previous session's token`);
    if (r.session === firstSession) throw new Error(`service on port ${r.port} saw the previous session's id`);
    if (r.tmp.some((f) => f.startsWith("used-by-"))) throw new Error(`service on port ${r.port} found a previous session's /tmp: ${r.tmp.join(", ")}`);
  }
}
