/**
 * NOT PART OF THE SUITE. Finds what a session leaves behind on the server (issue 10 figure 6):
 * an in-process server on the sandbox runtime, N sessions in a row (a participant joins a new
 * room with one examples/http-echo service, waits until it runs, leaves), heap snapshots before and
 * after, and the object counts by constructor that grew. Needs root.
 *
 *   node --expose-gc bench/experiments/session-leak.ts [N=200]
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { pino } from "pino";
import { createSandboxRuntime } from "@roomservice/runtime";
import { startRoomServer, mintParticipantToken } from "@roomservice/server";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { benchOwnerId } from "../lib/leftovers.ts";

const N = Number(process.argv[2] ?? 200);
const logger = process.env.LEAK_DEBUG ? pino({ level: "debug" }, pino.destination("/tmp/perfmisc-leak.log")) : pino({ level: "silent" });
const ownerId = benchOwnerId("leak");
const runtime = await createSandboxRuntime({ ownerId, logger, poolSize: 2 });
const dataDir = await mkdtemp(join(tmpdir(), "rs-leak-"));
const secret = randomBytes(24).toString("hex");
const server = await startRoomServer({ dataDir, host: "127.0.0.1", port: 0, logger, secret, runtime, departureTimeoutMs: 0 });
const ECHO = new URL("../../examples/http-echo/server.mjs", import.meta.url).pathname;
await server.services.create("default", null, "worker", {
  version: "v1", kind: "Service", metadata: { name: "worker" },
  container: { image: "host", command: `${process.execPath} ${ECHO}`, environment: [{ name: "PORT", value: "8080" }] },
  ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
}, Date.now());

const phases = { join: 0, running: 0, leave: 0, ended: 0 };
async function wait(fn: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error("timeout");
    await new Promise((r) => setTimeout(r, 2));
  }
}
async function one(i: number): Promise<void> {
  const room = `seq-${i}`;
  let t = performance.now();
  const lap = (k: keyof typeof phases) => {
    const now = performance.now();
    phases[k] += now - t;
    t = now;
  };
  const c = await sdkClient(server.url, room, await mintParticipantToken(secret, { room, identity: "bench", role: "user", ttlSeconds: 600 }));
  lap("join");
  await wait(async () => (await server.launcher.list(room)).service_states[0]?.state === "running");
  lap("running");
  await disposeSdkClient(c);
  lap("leave");
  await wait(() => server.rooms.get(room) === undefined && server.launcher.liveSession(room) === undefined);
  lap("ended");
}

function counts(file: string): Promise<Map<string, { n: number; size: number }>> {
  return readFile(file, "utf8").then((text) => {
    const snap = JSON.parse(text);
    const f = snap.snapshot.meta.node_fields as string[];
    const types = snap.snapshot.meta.node_types[0] as string[];
    const [iType, iName, iSize] = [f.indexOf("type"), f.indexOf("name"), f.indexOf("self_size")];
    const out = new Map<string, { n: number; size: number }>();
    const nodes = snap.nodes as number[];
    for (let i = 0; i < nodes.length; i += f.length) {
      const key = `${types[nodes[i + iType]!]}:${snap.strings[nodes[i + iName]!]}`.slice(0, 120);
      const e = out.get(key) ?? { n: 0, size: 0 };
      e.n++;
      e.size += nodes[i + iSize]!;
      out.set(key, e);
    }
    return out;
  });
}

const gc = (globalThis as { gc?: () => void }).gc!;
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
};
for (let i = 0; i < Number(process.env.LEAK_WARMUP ?? 30); i++) await one(-1 - i);
await settle();
const a = writeHeapSnapshot(join(dataDir, "a.heapsnapshot"));
const h0 = process.memoryUsage();
const t0 = performance.now();
for (let i = 0; i < N; i++) await one(i);
const ms = (performance.now() - t0) / N;
await settle();
const h1 = process.memoryUsage();
const b = writeHeapSnapshot(join(dataDir, "b.heapsnapshot"));
console.log(`${N} sessions, ${ms.toFixed(0)} ms each (join ${(phases.join / (N + 30)).toFixed(0)}, running ${(phases.running / (N + 30)).toFixed(0)}, leave ${(phases.leave / (N + 30)).toFixed(0)}, ended ${(phases.ended / (N + 30)).toFixed(0)} ms); heapUsed +${((h1.heapUsed - h0.heapUsed) / 1024).toFixed(0)} KiB, external +${((h1.external - h0.external) / 1024).toFixed(0)} KiB`);
const [ca, cb] = await Promise.all([counts(a), counts(b)]);
const grew = [...cb.entries()].map(([k, v]) => ({ k, dn: v.n - (ca.get(k)?.n ?? 0), ds: v.size - (ca.get(k)?.size ?? 0) })).filter((x) => x.dn >= N / 2 || x.ds > 16 * 1024).sort((x, y) => y.ds - x.ds);
for (const g of grew.slice(0, 40)) console.log(`  ${String(g.dn).padStart(7)} objects  ${String((g.ds / 1024).toFixed(1)).padStart(8)} KiB  ${g.k}`);
await server.close();
await (await createSandboxRuntime({ ownerId, logger })).reapOrphans();
await rm(dataDir, { recursive: true, force: true });
process.exit(0);
