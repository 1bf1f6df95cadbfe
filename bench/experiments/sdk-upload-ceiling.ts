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
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sdk } from "../lib/sdk.ts";
import { Child, ROOT_DIR } from "../lib/proc.ts";

const MiB = 1024 * 1024;
const total = Number(process.argv[2] ?? 100) * MiB;
const reps = Number(process.argv[3] ?? 3);

// The sink: a ws server that counts the bytes of every frame and tells the client when it has
// `total` payload bytes (frame bytes minus the SDK's 12/16-byte packet headers are not
// separated: it counts frames' lengths, the client waits for its own total), and an HTTP
// server that reads and discards a PUT body.
const SINK = `
const { WebSocketServer } = require("ws");
const http = require("node:http");
const srv = http.createServer((req, res) => { let n = 0; req.on("data", (c) => (n += c.length)); req.on("end", () => res.end(String(n))); });
const wss = new WebSocketServer({ server: srv, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on("connection", (ws) => {
  let n = 0, want = Infinity;
  ws.on("message", (d, isBinary) => {
    if (!isBinary) { want = Number(String(d)); n = 0; return; }
    n += d.length;
    if (n >= want) { ws.send("done " + n); want = Infinity; }
  });
});
srv.listen(0, "127.0.0.1", () => process.stdout.write(String(srv.address().port) + "\\n"));
`;

async function startSink(): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ["-e", SINK], { cwd: ROOT_DIR, stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(proc.stdout!, "data")) as [Buffer];
  return { proc, port: Number(String(line).trim()) };
}

/** Sends `total` bytes as messages of `messageBytes` through the SDK's Protocol; MiB/s and client CPU s/GiB. */
async function sdkSend(port: number, data: Buffer, messageBytes: number): Promise<{ mibps: number; cpuPerGiB: number }> {
  const protocol = new sdk.WebSocketClientProtocol({ url: `ws://127.0.0.1:${port}/`, token: "x" });
  let done: (() => void) | null = null;
  protocol.start({ onMessage: () => undefined });
  // The sink's "done" arrives as a text frame, which the SDK's channel decodes as a packet:
  // watch the raw socket instead.
  await protocol.channel._opened.fut;
  const ws = protocol.channel.webSocket;
  ws.addEventListener("message", (e: { data: unknown }) => {
    if (typeof e.data === "string" && e.data.startsWith("done")) done?.();
  });
  const packets = (n: number) => Math.ceil(n / 1024);
  // Frames on the wire for `total` bytes: per message one 16-byte header frame + type, and
  // one 12-byte header per 1 KiB packet.
  let wire = 0;
  for (let off = 0; off < data.length; off += messageBytes) {
    const len = Math.min(messageBytes, data.length - off);
    wire += 16 + "x".length + len + 12 * packets(len);
  }
  const finished = new Promise<void>((r) => (done = r));
  ws.send(String(wire));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  // At most 4 messages outstanding, as storage.upload's window of 4 pulls allows.
  const inFlight = new Set<Promise<void>>();
  for (let off = 0; off < data.length; off += messageBytes) {
    if (inFlight.size >= 4) await Promise.race(inFlight);
    const p: Promise<void> = protocol.send("x", data.subarray(off, Math.min(off + messageBytes, data.length))).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  await finished;
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  protocol.close();
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
const sink = await startSink();
const dir = await mkdtemp(join(tmpdir(), "rs-bench-ceiling-"));
const durable = await Child.start("ceiling-http-file-server", "children/http-file-server.ts", { env: { HF_DATA_DIR: dir } });
const results: Record<string, { mibps: number; cpuPerGiB: number }[]> = {};
const add = (k: string, v: { mibps: number; cpuPerGiB: number }) => (results[k] ??= []).push(v);
try {
  // Warm-up (JIT, page cache), not recorded.
  await sdkSend(sink.port, data.subarray(0, 8 * MiB), 512 * 1024);
  await fetchPut(`http://127.0.0.1:${sink.port}/`, data.subarray(0, 8 * MiB), 200);
  for (let r = 0; r < reps; r++) {
    add("fetch PUT, durable node:http (figure 5 baseline)", await fetchPut(`${String(durable.info.url)}/files/f.bin`, data, 201));
    add("fetch PUT, null sink", await fetchPut(`http://127.0.0.1:${sink.port}/`, data, 200));
    for (const m of [64 * 1024, 512 * 1024, 4 * MiB]) add(`SDK Protocol.send, ${m / 1024} KiB messages, null sink`, await sdkSend(sink.port, data, m));
  }
} finally {
  sink.proc.kill();
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
