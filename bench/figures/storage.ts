/**
 * Issue #4 item 4 — storage. A 100 MiB file of random bytes, uploaded and downloaded.
 *
 *   Roomservice: server child; the @meshagent/meshagent SDK in the runner process uses
 *                storage.uploadStream (1 MiB source chunks; the SDK frames them in 1 KiB
 *                WebSocket messages, as it always does) and storage.download. Extra lines:
 *                storage.download_url + plain fetch, and downloadStream with 1 MiB chunks.
 *                Diagnostic (issue #10 figure 5): the same bytes through the SDK's own
 *                protocol send path to a sink child that only counts them — the ceiling of
 *                any SDK upload, whatever the server does.
 *   Baseline:    a minimal node:http server child; fetch PUT / GET on loopback. The server
 *                writes a temp file, fsyncs, renames and fsyncs the directory — the same
 *                durability as Roomservice's uploads — and streams the file back on GET.
 *
 * Both servers keep their files under the OS temp directory (a real disk on the benchmark
 * machine). Repetitions alternate which side goes first; figures are medians. Every
 * download is checked for length, and once per variant for its SHA-256.
 */
import { randomBytes, createHash } from "node:crypto";
import { Child, stopAll } from "../lib/proc.ts";
import { row, type Figure, type FigureResult } from "../lib/types.ts";
import { median, round } from "../lib/stats.ts";
import { startRoomservice, scratchDir, cpuDeltaUs } from "../lib/util.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { sdkSendToSink } from "../lib/sdk-ceiling.ts";
import type { Usage } from "../lib/rpc.ts";
import { mintParticipantToken } from "@roomservice/server";
import { OutsideLoadMeter, disturbed, DISTURBED_CORES, type OutsideLoad } from "../lib/machine.ts";

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function* chunks(buf: Buffer, size: number) {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(i + size, buf.length));
}

type Op = "rsUpload" | "baseUpload" | "rsDownload" | "baseDownload" | "rsDownloadUrl" | "rsDownloadStream1M" | "sdkCeiling";
interface Sample {
  seconds: number;
  serverCpuSeconds: number;
  /** CPU of this (client) process during the operation: shows which side limits. */
  clientCpuSeconds: number;
  outside: OutsideLoad | null;
  disturbed: boolean;
  /** Repetition the sample belongs to (a repetition pairs Roomservice with the baseline). */
  rep: number;
}
/** An operation disturbed by outside load is repeated, at most this many times in all (full mode). */
const MAX_ATTEMPTS = 3;

export const storage: Figure = {
  name: "storage",
  title: "Storage: upload and download of a 100 MiB file, SDK vs plain HTTP PUT/GET",
  async run(ctx): Promise<FigureResult> {
    const size = ctx.quick ? 16 * MiB : 100 * MiB;
    const reps = ctx.quick ? 1 : 5;
    let rsServer: Child | null = null;
    let httpServer: Child | null = null;
    let client: any = null;
    const cleanups: (() => Promise<void>)[] = [];
    const samples: Record<Op, Sample[]> = { rsUpload: [], baseUpload: [], rsDownload: [], baseDownload: [], rsDownloadUrl: [], rsDownloadStream1M: [], sdkCeiling: [] };
    let sink: Child | null = null;
    try {
      const rs = await startRoomservice(ctx, "storage-rs-server");
      rsServer = rs.child;
      cleanups.push(rs.remove);
      const hfDir = await scratchDir("storage-http");
      cleanups.push(hfDir.remove);
      httpServer = await Child.start("storage-http-server", "children/http-file-server.ts", { env: { HF_DATA_DIR: hfDir.path }, profileDir: ctx.profileDir });
      const httpUrl = `${String(httpServer.info.url)}/files/file.bin`;
      // Issue #10 figure 5: what the SDK's own send path reaches against a server doing nothing.
      sink = await Child.start("storage-null-sink", "children/null-sink.ts");
      const room = "bench-storage";
      const token = await mintParticipantToken(rs.secret, { room, identity: "bench", role: "user", ttlSeconds: 3600 });
      client = await sdkClient(rs.url, room, token);
      const path = "bench/file.bin";
      const data = randomBytes(size);
      const digest = sha(data);
      const verified = new Set<Op>();
      const check = (op: Op, got: Uint8Array | null, length: number) => {
        if (length !== size) throw new Error(`${op}: got ${length} bytes, expected ${size}`);
        if (got !== null && !verified.has(op)) {
          if (sha(got) !== digest) throw new Error(`${op}: downloaded bytes differ from the uploaded file`);
          verified.add(op);
        }
      };

      let record = true;
      let rep = -1;
      const meter = new OutsideLoadMeter([rsServer.proc.pid, httpServer.proc.pid, sink.proc.pid]);
      const timed = async (op: Op, server: Child, fn: () => Promise<void>) => {
        for (let attempt = 1; attempt <= (record && !ctx.quick ? MAX_ATTEMPTS : 1); attempt++) {
          const before = await server.call<Usage>("usage");
          const c0 = process.cpuUsage();
          meter.start();
          const t0 = performance.now();
          await fn();
          const seconds = (performance.now() - t0) / 1000;
          const outside = meter.stop();
          const c1 = process.cpuUsage(c0);
          const after = await server.call<Usage>("usage");
          const s: Sample = {
            seconds, serverCpuSeconds: cpuDeltaUs(before, after) / 1e6, clientCpuSeconds: (c1.user + c1.system) / 1e6,
            outside, disturbed: disturbed(outside), rep,
          };
          if (record) samples[op].push(s);
          if (!s.disturbed) break;
        }
      };

      const ops: Record<Op, () => Promise<void>> = {
        sdkCeiling: () => timed("sdkCeiling", sink!, () => sdkSendToSink(String(sink!.info.url), data, 512 * 1024)),
        rsUpload: () => timed("rsUpload", rsServer!, async () => {
          await client.storage.uploadStream(path, chunks(data, MiB), { size, overwrite: true });
        }),
        baseUpload: () => timed("baseUpload", httpServer!, async () => {
          const res = await fetch(httpUrl, { method: "PUT", body: data });
          if (res.status !== 201) throw new Error(`baseline PUT: HTTP ${res.status}`);
          await res.arrayBuffer();
        }),
        rsDownload: () => timed("rsDownload", rsServer!, async () => {
          const f = await client.storage.download(path);
          check("rsDownload", f.data, f.data.length);
        }),
        baseDownload: () => timed("baseDownload", httpServer!, async () => {
          const res = await fetch(httpUrl);
          if (res.status !== 200) throw new Error(`baseline GET: HTTP ${res.status}`);
          const b = new Uint8Array(await res.arrayBuffer());
          check("baseDownload", b, b.length);
        }),
        rsDownloadUrl: () => timed("rsDownloadUrl", rsServer!, async () => {
          const url: string = await client.storage.downloadUrl(path);
          const res = await fetch(url);
          if (res.status !== 200) throw new Error(`download_url GET: HTTP ${res.status}`);
          const b = new Uint8Array(await res.arrayBuffer());
          check("rsDownloadUrl", b, b.length);
        }),
        rsDownloadStream1M: () => timed("rsDownloadStream1M", rsServer!, async () => {
          const parts: Uint8Array[] = [];
          let n = 0;
          for await (const c of await client.storage.downloadStream(path, { chunkSize: MiB })) {
            if (c.headers.kind !== "data") continue;
            parts.push(c.data);
            n += c.data.length;
          }
          check("rsDownloadStream1M", verified.has("rsDownloadStream1M") ? null : Buffer.concat(parts), n);
        }),
      };

      // One unrecorded round first: JIT warm-up on both sides, files in the page cache.
      if (!ctx.quick) {
        record = false;
        for (const op of Object.keys(ops) as Op[]) await ops[op]();
        record = true;
      }
      for (let r = 0; r < reps; r++) {
        rep = r;
        const rsFirst = r % 2 === 0;
        const order: Op[] = rsFirst
          ? ["rsUpload", "baseUpload", "sdkCeiling", "rsDownload", "baseDownload", "rsDownloadUrl", "rsDownloadStream1M"]
          : ["baseUpload", "sdkCeiling", "rsUpload", "baseDownload", "rsDownload", "rsDownloadStream1M", "rsDownloadUrl"];
        for (const op of order) await ops[op]();
        const last = (op: Op) => `${(size / MiB / samples[op].at(-1)!.seconds).toFixed(0)}${samples[op].at(-1)!.disturbed ? "(disturbed)" : ""}`;
        ctx.log(
          `  rep ${r + 1}/${reps} (MiB/s): upload RS ${last("rsUpload")} vs HTTP ${last("baseUpload")}; download RS ${last("rsDownload")} vs HTTP ${last("baseDownload")}; ` +
            `download_url+fetch ${last("rsDownloadUrl")}; downloadStream(1 MiB) ${last("rsDownloadStream1M")}`,
        );
      }
    } finally {
      if (client !== null) await disposeSdkClient(client);
      await stopAll(rsServer, httpServer, sink);
      for (const c of cleanups) await c();
    }

    // Figures come from the samples without outside load, or all of them if none was clean.
    const clean = (op: Op) => (samples[op].some((s) => !s.disturbed) ? samples[op].filter((s) => !s.disturbed) : samples[op]);
    const mibps = (op: Op) => median(clean(op).map((s) => size / MiB / s.seconds));
    const spread = (op: Op) => {
      const xs = clean(op).map((s) => size / MiB / s.seconds);
      return xs.length > 1 ? `${round(Math.min(...xs), 3)}–${round(Math.max(...xs), 3)}` : undefined;
    };
    const note = (a: Op, b?: Op) => {
      const sa = spread(a);
      const sb = b === undefined ? undefined : spread(b);
      return [sa && `RS reps ${sa}`, sb && `baseline reps ${sb}`].filter(Boolean).join("; ") || undefined;
    };
    // Ratios are paired by repetition (both sides measured seconds apart), median over reps.
    const paired = (a: Op, b: Op) => {
      const out: number[] = [];
      for (let r = 0; r < reps; r++) {
        const xa = clean(a).filter((s) => s.rep === r).map((s) => size / MiB / s.seconds);
        const xb = clean(b).filter((s) => s.rep === r).map((s) => size / MiB / s.seconds);
        if (xa.length > 0 && xb.length > 0) out.push(median(xa) / median(xb));
      }
      return out.length > 0 ? median(out) : mibps(a) / mibps(b);
    };
    const upRatio = paired("rsUpload", "baseUpload");
    const downRatio = paired("rsDownload", "baseDownload");
    const label = `${size / MiB} MiB`;
    const cpuPerGiB = (op: Op) => median(clean(op).map((s) => (s.serverCpuSeconds / size) * 1024 * MiB));
    const clientCpuPerGiB = (op: Op) => median(clean(op).map((s) => (s.clientCpuSeconds / size) * 1024 * MiB));
    const clientBusy = (op: Op) => `client process CPU ${Math.round(median(clean(op).map((s) => s.clientCpuSeconds / s.seconds)) * 100)}% of wall time`;
    const all = Object.values(samples).flat();
    const disturbedCount = all.filter((s) => s.disturbed).length;
    const rows = [
      row({
        metric: `upload ${label}: SDK uploadStream vs HTTP PUT (MiB/s)`,
        roomservice: round(mibps("rsUpload")), baseline: round(mibps("baseUpload")), unit: "MiB/s", better: "higher",
        target: "≥ 0.8×", met: upRatio >= 0.8, ratio: round(upRatio, 3), note: [note("rsUpload", "baseUpload"), `RS ${clientBusy("rsUpload")}`, "ratio: median of per-repetition ratios"].filter(Boolean).join("; "),
      }),
      row({
        metric: `download ${label}: SDK download vs HTTP GET (MiB/s)`,
        roomservice: round(mibps("rsDownload")), baseline: round(mibps("baseDownload")), unit: "MiB/s", better: "higher",
        target: "≥ 0.8×", met: downRatio >= 0.8, ratio: round(downRatio, 3), note: [note("rsDownload", "baseDownload"), `RS ${clientBusy("rsDownload")}`, "ratio: median of per-repetition ratios"].filter(Boolean).join("; "),
      }),
      row({
        metric: `download ${label}: download_url + fetch vs HTTP GET (MiB/s)`,
        roomservice: round(mibps("rsDownloadUrl")), baseline: round(mibps("baseDownload")), unit: "MiB/s", better: "higher",
        ratio: round(paired("rsDownloadUrl", "baseDownload"), 3),
        note: note("rsDownloadUrl"),
      }),
      row({
        metric: `download ${label}: SDK downloadStream, 1 MiB chunks vs HTTP GET (MiB/s)`,
        roomservice: round(mibps("rsDownloadStream1M")), baseline: round(mibps("baseDownload")), unit: "MiB/s", better: "higher",
        ratio: round(paired("rsDownloadStream1M", "baseDownload"), 3),
        note: note("rsDownloadStream1M"),
      }),
      row({
        metric: `SDK send ceiling: 512 KiB messages through the SDK's protocol to a null sink vs HTTP PUT (MiB/s)`,
        roomservice: round(mibps("sdkCeiling")), baseline: round(mibps("baseUpload")), unit: "MiB/s", better: "higher",
        ratio: round(paired("sdkCeiling", "baseUpload"), 3),
        note: [`no server work at all: the SDK's 1 KiB packets (protocol.js _runSendLoop) bound every SDK upload; client CPU ${round(clientCpuPerGiB("sdkCeiling"))} s/GiB`, note("sdkCeiling")].filter(Boolean).join("; "),
      }),
      row({
        metric: "server CPU per GiB uploaded (s)",
        roomservice: round(cpuPerGiB("rsUpload")), baseline: round(cpuPerGiB("baseUpload")), unit: "s", better: "lower",
      }),
      row({
        metric: "server CPU per GiB downloaded, SDK download (s)",
        roomservice: round(cpuPerGiB("rsDownload")), baseline: round(cpuPerGiB("baseDownload")), unit: "s", better: "lower",
      }),
      row({
        metric: "client CPU per GiB uploaded: SDK vs fetch (s)",
        roomservice: round(clientCpuPerGiB("rsUpload")), baseline: round(clientCpuPerGiB("baseUpload")), unit: "s", better: "lower",
        note: "the SDK sends every message in 1 KiB WebSocket frames",
      }),
      row({
        metric: "client CPU per GiB downloaded: SDK download vs fetch (s)",
        roomservice: round(clientCpuPerGiB("rsDownload")), baseline: round(clientCpuPerGiB("baseDownload")), unit: "s", better: "lower",
      }),
    ];
    const secs = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((s) => ({ ...s, seconds: round(s.seconds), serverCpuSeconds: round(s.serverCpuSeconds), clientCpuSeconds: round(s.clientCpuSeconds) }))]));
    return { rows, details: { bytes: size, reps, disturbedSamples: disturbedCount, disturbedThresholdCores: DISTURBED_CORES, samples: secs } };
  },
};
