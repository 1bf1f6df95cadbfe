/**
 * NOT PART OF THE SUITE. Sessions in a row against the benchmark's own server child
 * (bench/children/rs-server-runtime.ts, --expose-gc, the SDK participant in this process as in
 * figure 6), with heap snapshots of the server after full GCs; then compare them with
 * bench/experiments/heap-diff.ts.
 *
 *   node bench/experiments/session-heap-diff.ts [--runtime sandbox|docker] [--services 1|0]
 *        [--warmup 100] [--n 1000] [--rounds 2] [--every 100] [--out DIR] [--no-snapshots]
 *
 * Snapshots: after the warm-up (s0), then after each round of n sessions (s1, s2, …). Memory
 * (heap+external after GC) is printed every `every` sessions. Needs root (sandbox) or Docker.
 */
import { parseArgs } from "node:util";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createDockerRuntime } from "@roomservice/runtime";
import { mintParticipantToken } from "@roomservice/server";
import { ensureHttpImage, httpService, quietLogger } from "../lib/docker-env.ts";
import { startRuntimeServer } from "../figures/memory.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import type { Usage } from "../lib/rpc.ts";

const { values: o } = parseArgs({
  options: {
    runtime: { type: "string", default: "sandbox" },
    services: { type: "string", default: "1" },
    warmup: { type: "string", default: "100" },
    n: { type: "string", default: "1000" },
    rounds: { type: "string", default: "2" },
    every: { type: "string", default: "100" },
    out: { type: "string", default: "/tmp/rs-heap" },
    "no-snapshots": { type: "boolean", default: false },
  },
});
const runtime = o.runtime as "sandbox" | "docker";
const withService = o.services !== "0";
const out = resolve(o.out!);
mkdirSync(out, { recursive: true });
const SERVER = fileURLToPath(new URL("../../examples/http-echo/server.mjs", import.meta.url));
// Docker: the benchmarks' http-echo image (built if missing); the sandbox runs the host's node.
const manifest = runtime === "docker"
  ? httpService("worker", 8080)
  : { version: "v1", kind: "Service", metadata: { name: "worker" }, container: { image: "host", command: `${process.execPath} ${SERVER}`, environment: [{ name: "PORT", value: "8080" }] }, ports: [{ num: 8080, type: "http", liveness: "/healthz" }] };
if (runtime === "docker") {
  const rt = await createDockerRuntime({ ownerId: `bench-heapdiff-img-${process.pid}`, logger: quietLogger });
  await ensureHttpImage(rt);
  await rt.close();
}

const ctx = { quick: false, profileDir: null, pin: false, log: (m: string) => console.log(m) };
const started = await startRuntimeServer(ctx, `heapdiff-${runtime}`, { runtime, gc: true });
if ("skipped" in started) throw new Error(started.skipped);
const { child, url, secret } = started;
// Interrupted: stop the child through its close handler (its runtime removes the
// namespaces and services it made) instead of leaving them behind.
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => void child.stop().finally(() => started.remove()).finally(() => process.exit(1)));
}
const live = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;
const mem = async () => (await child.call<Usage>("usage", { gc: true })).mem;
try {
  if (withService) await child.call("addService", { room: null, name: "worker", manifest });
  const one = async (i: number) => {
    const room = `seq-${i}`;
    const c = await sdkClient(url, room, await mintParticipantToken(secret, { room, identity: "bench", role: "user", ttlSeconds: 3600 }));
    if (withService) await child.call("waitRunning", { rooms: [room], n: 1, timeoutMs: 60_000 }, 90_000);
    await disposeSdkClient(c);
    await child.call("waitEnded", { rooms: [room], timeoutMs: 60_000 }, 90_000);
  };
  const warmup = Number(o.warmup);
  const n = Number(o.n);
  for (let i = 0; i < warmup; i++) await one(-1 - i);
  const snap = async (k: number) => {
    if (o["no-snapshots"]) return;
    const p = await child.call<string>("snapshot", { path: join(out, `${runtime}-${withService ? "svc" : "nosvc"}-s${k}.heapsnapshot`) }, 300_000);
    console.log(`snapshot ${p}`);
  };
  await snap(0);
  const t0 = performance.now();
  let done = 0;
  for (let r = 1; r <= Number(o.rounds); r++) {
    for (let i = 0; i < n; i++, done++) {
      if (done % Number(o.every) === 0) {
        const m = await mem();
        console.log(`after ${done} sessions: heap+external ${live(m)} B (${(live(m) / 2 ** 20).toFixed(3)} MiB), heapUsed ${m.heapUsed}, external ${m.external}, RSS ${(m.rss / 2 ** 20).toFixed(1)} MiB; ${((performance.now() - t0) / Math.max(done, 1)).toFixed(0)} ms/session`);
      }
      await one(done);
    }
    const m = await mem();
    console.log(`after ${done} sessions: heap+external ${live(m)} B (${(live(m) / 2 ** 20).toFixed(3)} MiB), heapUsed ${m.heapUsed}, external ${m.external}, RSS ${(m.rss / 2 ** 20).toFixed(1)} MiB`);
    await snap(r);
  }
  console.log(`held: ${JSON.stringify(await child.call("held"))}`);
} finally {
  await child.stop();
  await started.remove();
}
process.exit(0);
