/**
 * NOT PART OF THE SUITE (evidence for docs/benchmarks.md, figure 5 of issue 10). How fast can
 * the unmodified @meshagent/meshagent SDK put bytes on a WebSocket at all, whatever the server
 * does? The SDK's `Protocol._runSendLoop` (dist/node/protocol.js) cuts every outgoing message
 * into 1 KiB packets, each copied into a new array (`mergeUint8Arrays`), awaited and handed to
 * `ws` as its own masked frame; the storage tool's `chunk_size` only decides how big the
 * *messages* are. This measures that send loop against a sink server that does nothing but
 * count bytes (a separate process), for message sizes of 64 KiB, 512 KiB (what
 * Roomservice's storage.upload pulls) and 4 MiB, next to `fetch` PUT of the same bytes to a
 * sink and to a durable node:http server (the storage figure's baseline: temp file, fsync,
 * rename). If the SDK's ceiling against a null sink is below 0.8× the durable PUT, no server
 * change reaches the 0.8× target without changing the SDK.
 *
 *   node bench/experiments/sdk-upload-ceiling.ts [MiB=100] [reps=3]
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Child } from "../lib/proc.ts";
import { sdkSendToSink } from "../lib/sdk-ceiling.ts";

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 100) * MiB;
const reps = Number(process.argv[3] ?? 3);

/** Sends `data` through the SDK's Protocol to the null sink; MiB/s and client CPU s/GiB. */
async function sdkSend(sinkUrl: string, data: Buffer, messageBytes: number): Promise<{ mibps: number; cpuPerGiB: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sdkSendToSink(sinkUrl, data, messageBytes);
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { mibps: data.length / MiB / s, cpuPerGiB: ((c.user + c.system) / 1e6 / data.length) * 1024 * MiB };
}

async function fetchPut(url: string, data: Buffer, okStatus: number): Promise<{ mibps: number; cpuPerGiB: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await fetch(url, { method: "PUT", body: data });
  if (res.status !== okStatus) throw new Error(`PUT ${url}: HTTP ${res.status}`);
  await res.arrayBuffer();
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { mibps: data.length / MiB / s, cpuPerGiB: ((c.user + c.system) / 1e6 / data.length) * 1024 * MiB };
}

const data = randomBytes(total);
const sink = await Child.start("ceiling-null-sink", "children/null-sink.ts");
const sinkUrl = String(sink.info.url);
const dir = await mkdtemp(join(tmpdir(), "rs-bench-ceiling-"));
const durable = await Child.start("ceiling-http-file-server", "children/http-file-server.ts", { env: { HF_DATA_DIR: dir } });
const results: Record<string, { mibps: number; cpuPerGiB: number }[]> = {};
const add = (k: string, v: { mibps: number; cpuPerGiB: number }) => (results[k] ??= []).push(v);
try {
  // Warm-up (JIT, page cache), not recorded.
  await sdkSend(sinkUrl, data.subarray(0, 8 * MiB), 512 * 1024);
  await fetchPut(`${sinkUrl}/`, data.subarray(0, 8 * MiB), 200);
  for (let r = 0; r < reps; r++) {
    add("fetch PUT, durable node:http (figure 5 baseline)", await fetchPut(`${String(durable.info.url)}/files/f.bin`, data, 201));
    add("fetch PUT, null sink", await fetchPut(`${sinkUrl}/`, data, 200));
    for (const m of [64 * 1024, 512 * 1024, 4 * MiB]) add(`SDK Protocol.send, ${m / 1024} KiB messages, null sink`, await sdkSend(sinkUrl, data, m));
  }
} finally {
  await sink.stop();
  await durable.stop();
  await rm(dir, { recursive: true, force: true });
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = med(results["fetch PUT, durable node:http (figure 5 baseline)"]!.map((x) => x.mibps));
console.log(`${total / MiB} MiB, ${reps} reps, medians:`);
for (const [k, v] of Object.entries(results)) {
  const m = med(v.map((x) => x.mibps));
  console.log(`  ${k.padEnd(52)} ${m.toFixed(0).padStart(5)} MiB/s  ${(m / base).toFixed(2)}× baseline  client CPU ${med(v.map((x) => x.cpuPerGiB)).toFixed(1)} s/GiB`);
}
process.exit(0);
