/**
 * Issue #4 items 1 and 2 — room cold start and session end, with N = 1, 5, 10 services of a
 * small HTTP image (examples/http-echo, liveness /healthz).
 *
 *   Roomservice: in-process server on the Docker runtime (pool of 2 ready room namespaces, as
 *                `serve` runs by default). Cold start: from the first participant's SDK
 *                connection to every service reported running (= ready) by the launcher.
 *                Session end: departure timeout 0, from the last participant leaving to the
 *                moment every container, the namespace and the secret files are gone.
 *   Baseline:    the same containers straight through the Engine API: a pause container,
 *                N services joining it in parallel (Init, read-only root, like ours), their
 *                ports polled from inside the namespace with the same helper Roomservice uses
 *                (so both sides pay the same probing cost). End: stop (grace 10 s) and remove
 *                every service in parallel, then the pause container.
 *
 * Runs alternate Roomservice and baseline; between runs the pool refills (steady state of a
 * server that is not starting rooms back to back).
 */
import { NetnsProber, type DockerRuntime } from "@roomservice/runtime";
import { mintParticipantToken } from "@roomservice/server";
import { row, type BenchContext, type Figure, type FigureResult, type Row } from "../lib/types.ts";
import { summarize, roundSummary, round } from "../lib/stats.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { startDockerServer, httpService, waitUntil, quietLogger, HTTP_IMAGE, type DockerBenchEnv } from "../lib/docker-env.ts";

const POOL = 2;

async function roomserviceRun(env: DockerBenchEnv, room: string, n: number): Promise<{ startMs: number; endMs: number }> {
  const { server } = env;
  for (let i = 0; i < n; i++) await server.services.create("default", room, `web-${i}`, httpService(`web-${i}`, 8080 + i), Date.now());
  const token = await mintParticipantToken(env.secret, { room, identity: "bench", role: "user", ttlSeconds: 600 });
  const t0 = performance.now();
  const client = await sdkClient(server.url, room, token);
  await waitUntil("services ready", async () => {
    const st = (await server.launcher.list(room)).service_states;
    return st.length === n && st.every((s) => s.state === "running");
  }, 60_000);
  const startMs = performance.now() - t0;
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
  return { startMs, endMs };
}

async function baselineRun(runtime: DockerRuntime, n: number, tag: string): Promise<{ startMs: number; endMs: number }> {
  const docker = runtime.docker;
  const labels = { "dev.roomservice.owner": runtime.ownerId, "dev.roomservice.role": "bench-baseline" };
  const t0 = performance.now();
  const { Id: pause } = await docker.json<{ Id: string }>({
    method: "POST", path: "/containers/create", query: { name: `bench-pause-${tag}` },
    body: { Image: "roomservice/pause:1", Labels: labels, HostConfig: { NetworkMode: "none", Init: true, ReadonlyRootfs: true } },
  });
  await docker.json({ method: "POST", path: `/containers/${pause}/start` });
  const info = await docker.json<{ NetworkSettings: { SandboxKey: string } }>({ method: "GET", path: `/containers/${pause}/json` });
  const prober = new NetnsProber(info.NetworkSettings.SandboxKey, quietLogger);
  prober.warm();
  const ids = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const { Id } = await docker.json<{ Id: string }>({
        method: "POST", path: "/containers/create", query: { name: `bench-svc-${tag}-${i}` },
        body: {
          Image: HTTP_IMAGE, Env: [`PORT=${8080 + i}`], Labels: labels,
          HostConfig: { NetworkMode: `container:${pause}`, Init: true, ReadonlyRootfs: true },
        },
      });
      await docker.json({ method: "POST", path: `/containers/${Id}/start` });
      return Id;
    }),
  );
  const ready = new Set<number>();
  const deadline = Date.now() + 60_000;
  while (ready.size < n) {
    if (Date.now() > deadline) throw new Error(`baseline: only ${ready.size} of ${n} services answered within 60 s`);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        if (ready.has(i)) return;
        const r = await prober.check({ kind: "http", port: 8080 + i, path: "/healthz" }, 1000);
        if (r.ok) ready.add(i);
      }),
    );
    if (ready.size < n) await new Promise((r) => setTimeout(r, 10));
  }
  const startMs = performance.now() - t0;
  const t1 = performance.now();
  prober.close();
  await Promise.all(ids.map(async (id) => {
    await docker.json({ method: "POST", path: `/containers/${id}/stop`, query: { t: 10 } });
    await docker.json({ method: "DELETE", path: `/containers/${id}`, query: { force: 1 } });
  }));
  await docker.json({ method: "DELETE", path: `/containers/${pause}`, query: { force: 1 } });
  return { startMs, endMs: performance.now() - t1 };
}

export const rooms: Figure = {
  name: "rooms",
  title: "Room cold start (N services ready) and session end, vs the same containers through the Engine API",
  requires: "docker",
  async run(ctx: BenchContext): Promise<FigureResult> {
    const sizes = ctx.quick ? [1, 5] : [1, 5, 10];
    const reps = ctx.quick ? 3 : 20;
    const env = await startDockerServer({ poolSize: POOL });
    const rows: Row[] = [];
    const details: Record<string, unknown> = { reps, pool: POOL };
    try {
      env.runtime.prewarm();
      // One untimed warm-up of each side (image layers in the page cache, helpers compiled).
      await roomserviceRun(env, "warmup", 1);
      await baselineRun(env.runtime, 1, "warmup");
      for (const n of sizes) {
        const rs = { start: [] as number[], end: [] as number[] };
        const base = { start: [] as number[], end: [] as number[] };
        for (let r = 0; r < reps; r++) {
          await waitUntil("pool refilled", () => env.runtime.pooled >= POOL, 30_000, 10);
          const a = await roomserviceRun(env, `cold-${n}-${r}`, n);
          rs.start.push(a.startMs);
          rs.end.push(a.endMs);
          const b = await baselineRun(env.runtime, n, `${n}-${r}`);
          base.start.push(b.startMs);
          base.end.push(b.endMs);
          ctx.log(`  N=${n} run ${r + 1}/${reps}: roomservice ${a.startMs.toFixed(0)} ms (end ${a.endMs.toFixed(0)}), baseline ${b.startMs.toFixed(0)} ms (end ${b.endMs.toFixed(0)})`);
        }
        const s = { rs: summarize(rs.start), base: summarize(base.start), rsEnd: summarize(rs.end), baseEnd: summarize(base.end) };
        details[`n${n}`] = { roomservice: { start: roundSummary(s.rs), end: roundSummary(s.rsEnd) }, baseline: { start: roundSummary(s.base), end: roundSummary(s.baseEnd) } };
        const ratio = s.rs.p50 / s.base.p50;
        rows.push(row({
          metric: `cold start N=${n}, median ms (p95 ${round(s.rs.p95, 3)} vs ${round(s.base.p95, 3)})`,
          roomservice: round(s.rs.p50), baseline: round(s.base.p50), unit: "ms", better: "lower",
          target: n === 5 ? "≤ 1.1×, aim < 0.8×" : "≤ 1.1×", met: ratio <= 1.1,
        }));
        rows.push(row({
          metric: `session end N=${n}, median ms (p95 ${round(s.rsEnd.p95, 3)} vs ${round(s.baseEnd.p95, 3)})`,
          roomservice: round(s.rsEnd.p50), baseline: round(s.baseEnd.p50), unit: "ms", better: "lower",
        }));
      }
    } finally {
      await env.close();
    }
    return { rows, details };
  },
};
