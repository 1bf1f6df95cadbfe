/**
 * NOT PART OF THE SUITE. Throughput of examples/pipeline's transform (csv-parse → JSON Lines
 * + column statistics) on the host, against an in-run baseline that does the least any CSV →
 * JSON Lines conversion must: read the file, split lines and fields naively, JSON.stringify.
 *
 *   node bench/experiments/pipeline-throughput.ts [MB]
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
// @ts-expect-error plain JavaScript example without types
import { csvToJsonl } from "../../examples/pipeline/transform.mjs";

const MB = Number(process.argv[2] ?? 50);
const dir = await mkdtemp(join(tmpdir(), "rs-pipeline-bench-"));
try {
  const input = join(dir, "in.csv");
  const w = createWriteStream(input);
  let bytes = 0;
  let buf = "id,region,amount,qty,note\n";
  for (let i = 1; bytes + buf.length < MB * 1048576; i++) {
    buf += `${i},r${i % 8},${((i * 7919) % 1_000_000) / 100},${i % 11 ? i % 23 : ""},order ${i}\n`;
    if (buf.length > 1 << 20) {
      bytes += buf.length;
      if (!w.write(buf)) await once(w, "drain");
      buf = "";
    }
  }
  bytes += buf.length;
  w.end(buf);
  await once(w, "finish");

  const t0 = performance.now();
  const out = createWriteStream(join(dir, "base.jsonl"));
  let header: string[] | null = null;
  for await (const line of createInterface({ input: createReadStream(input), crlfDelay: Infinity })) {
    const f = line.split(",");
    if (header === null) header = f;
    else if (!out.write(JSON.stringify(Object.fromEntries(header.map((h, i) => [h, f[i]]))) + "\n")) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  const base = (performance.now() - t0) / 1000;

  const t1 = performance.now();
  await csvToJsonl({ input, outJsonl: join(dir, "out.jsonl"), outSummary: join(dir, "out.summary.json") });
  const ours = (performance.now() - t1) / 1000;
  const mib = bytes / 1048576;
  console.log(`${mib.toFixed(0)} MiB: baseline ${(mib / base).toFixed(1)} MiB/s, pipeline transform ${(mib / ours).toFixed(1)} MiB/s (${(ours / base).toFixed(2)}× the baseline's time)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
