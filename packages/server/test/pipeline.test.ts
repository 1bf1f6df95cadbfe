/**
 * examples/pipeline end to end: a 200 MB CSV uploaded into inbox/ by an SDK participant is
 * turned by the pipeline service (real container, room storage mounted at /data) into JSON
 * Lines and column statistics, checked here against statistics computed independently while
 * the file was generated. Progress arrives in order up to 100 %, malformed rows are reported
 * with their line numbers, a second file queued meanwhile is processed next, and the
 * service's peak RSS stays under 150 MB. PIPELINE_TEST_MB changes the size (default 200).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseManifest } from "@roomservice/manifest";
import { startServicesServer, IMAGES, labelled, waitUntil } from "./services-env.ts";
import { collectMessages, settle } from "./helpers.ts";

const TARGET_BYTES = Number(process.env.PIPELINE_TEST_MB ?? 200) * 1024 * 1024;
const REGIONS = ["north", "south", "east", "west", "centre", "coast", "hills", "islands"];
/** Data rows (1-based) written with one field too many. */
const MALFORMED_ROWS = [1000, 123_457, 2_000_000];

interface Expected {
  rows: number;
  malformedLines: number[];
  amount: { count: number; sum: number; min: number; max: number };
  qty: { count: number; empty: number; sum: number; min: number; max: number };
  notesWithComma: number;
  first: Record<string, string>;
  last: Record<string, string>;
}

/**
 * Writes the CSV and computes, from the values themselves (no parsing), what the pipeline
 * must report. Every 97th note is quoted and contains a comma and a doubled quote, so a
 * naive split would get it wrong.
 */
async function generate(path: string): Promise<{ bytes: number; exp: Expected }> {
  const out = createWriteStream(path);
  const exp: Expected = {
    rows: 0, malformedLines: [], notesWithComma: 0, first: {}, last: {},
    amount: { count: 0, sum: 0, min: Infinity, max: -Infinity },
    qty: { count: 0, empty: 0, sum: 0, min: Infinity, max: -Infinity },
  };
  let bytes = 0;
  let buf = "id,region,amount,qty,note\n";
  for (let i = 1; bytes + buf.length < TARGET_BYTES; i++) {
    const region = REGIONS[i % REGIONS.length]!;
    const cents = (i * 7919) % 1_000_000;
    const amount = (cents / 100).toFixed(2);
    const qty = i % 11 === 0 ? "" : String(i % 23);
    const quoted = i % 97 === 0;
    const note = quoted ? `"order ${i}, ""rush"""` : `order ${i}`;
    if (MALFORMED_ROWS.includes(i)) {
      buf += `${i},${region},${amount},${qty},${note},surplus\n`;
      exp.malformedLines.push(i + 1);
    } else {
      buf += `${i},${region},${amount},${qty},${note}\n`;
      exp.rows++;
      const a = Number(amount);
      exp.amount.count++;
      exp.amount.sum += a;
      exp.amount.min = Math.min(exp.amount.min, a);
      exp.amount.max = Math.max(exp.amount.max, a);
      if (qty === "") exp.qty.empty++;
      else {
        const q = Number(qty);
        exp.qty.count++;
        exp.qty.sum += q;
        exp.qty.min = Math.min(exp.qty.min, q);
        exp.qty.max = Math.max(exp.qty.max, q);
      }
      if (quoted) exp.notesWithComma++;
      const rec = { id: String(i), region, amount, qty, note: quoted ? `order ${i}, "rush"` : `order ${i}` };
      if (exp.rows === 1) exp.first = rec;
      exp.last = rec;
    }
    if (buf.length > 1 << 20) {
      bytes += buf.length;
      if (!out.write(buf)) await once(out, "drain");
      buf = "";
    }
  }
  bytes += buf.length;
  out.end(buf);
  await once(out, "finish");
  return { bytes, exp };
}

function exampleManifest(): Record<string, unknown> {
  const file = fileURLToPath(new URL("../../../examples/pipeline/meshagent.yaml", import.meta.url));
  const r = parseManifest(readFileSync(file, "utf8"), { filename: file });
  if (!r.ok) throw new Error(`examples/pipeline/meshagent.yaml is invalid: ${JSON.stringify(r.errors)}`);
  const m = structuredClone(r.raw) as any;
  m.container.image = IMAGES.pipeline;
  return m;
}

// 200 MB through csv-parse in a 64 MiB-heap container takes minutes on 2 shared cores: this
// test gets its own 15-minute bound instead of the suite's 5 (no timing is asserted).
test("pipeline: a 200 MB CSV in inbox/ becomes correct JSON Lines and statistics in bounded memory, with ordered progress; a second file is processed next", { timeout: 15 * 60_000 }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), "rs-pipeline-"));
  t.after(() => rm(work, { recursive: true, force: true }));
  const bigPath = join(work, "big.csv");
  const { bytes, exp } = await generate(bigPath);
  assert.equal((await stat(bigPath)).size, bytes);

  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const room = "pipeline-room";
  await env.addService(room, exampleManifest());
  const alice = await env.ts.client(room, "alice");
  const box = collectMessages(alice);
  alice.messaging.enable();
  const logs: any[] = [];
  void (async () => {
    for await (const e of alice.developer.logs()) logs.push(e);
  })().catch(() => {});
  await waitUntil("the pipeline participant", () => alice.messaging.getParticipantByName("pipeline"), 60_000);
  // The service makes inbox/ and outbox/ at start: a newcomer sees where to drop files.
  await waitUntil("inbox/ and outbox/ in room storage", async () => {
    const names = (await alice.storage.list("")).filter((f: any) => f.isFolder).map((f: any) => f.name);
    return names.includes("inbox") && names.includes("outbox");
  }, 60_000);

  // Drop the big file, then a small one while the first is being processed.
  await alice.storage.uploadStream("inbox/big.csv", createReadStream(bigPath, { highWaterMark: 1 << 20 }), { size: bytes });
  await alice.storage.upload("inbox/small.csv", Buffer.from("a,b\n1,x\n2,y\n"));

  const doneOf = (file: string) => box.messages.find((m) => m.type === "done" && m.message.file === file);
  await waitUntil("small.csv done", () => doneOf("inbox/small.csv"), 30 * 60_000);
  const failed = box.messages.filter((m) => m.type === "failed");
  assert.deepEqual(failed, []);
  const done = box.messages.filter((m) => m.type === "done").map((m) => m.message.file);
  assert.deepEqual(done, ["inbox/big.csv", "inbox/small.csv"], "processed in arrival order, one after another");

  // Progress: in order, up to 100 %, with rows, bytes and an ETA.
  const progress = box.messages.filter((m) => m.type === "progress" && m.message.file === "inbox/big.csv").map((m) => m.message);
  assert.ok(progress.length >= 5, `expected several progress messages, got ${progress.length}`);
  for (let i = 1; i < progress.length; i++) {
    assert.ok(progress[i].percent >= progress[i - 1].percent, `percent went back at message ${i}`);
    assert.ok(progress[i].rows >= progress[i - 1].rows && progress[i].bytes >= progress[i - 1].bytes);
  }
  const last = progress.at(-1);
  assert.equal(last.percent, 100);
  assert.equal(last.state, "done");
  assert.equal(last.rows, exp.rows);
  assert.equal(last.bytes, bytes);
  assert.ok(progress.slice(0, -1).every((p: any) => p.percent < 100 && p.state === "running"));
  assert.ok(progress.some((p: any) => typeof p.eta_seconds === "number" && p.eta_seconds > 0));
  // The same progress as developer log entries.
  assert.ok(logs.some((e) => e.type === "pipeline.progress" && e.data.file === "inbox/big.csv" && e.data.percent === 100));

  // Malformed rows: reported live with line numbers, and in the summary; the run went on.
  const rowErrors = box.messages.filter((m) => m.type === "row_error" && m.message.file === "inbox/big.csv").map((m) => m.message.line);
  assert.deepEqual(rowErrors.sort((a: number, b: number) => a - b), exp.malformedLines);

  // Bounded memory.
  const bigDone = doneOf("inbox/big.csv").message;
  t.diagnostic(`pipeline: ${(bytes / 1048576).toFixed(0)} MiB in ${bigDone.seconds.toFixed(1)} s (${(bytes / 1048576 / bigDone.seconds).toFixed(1)} MiB/s), peak RSS ${(bigDone.peak_rss_bytes / 1048576).toFixed(1)} MiB`);
  assert.ok(bigDone.peak_rss_bytes > 0 && bigDone.peak_rss_bytes < 150 * 1024 * 1024, `peak RSS ${bigDone.peak_rss_bytes} bytes`);

  // The outputs, checked against the independent computation.
  const storage = join(env.ts.server.rooms.roomDir(room), "storage");
  const summary = JSON.parse(readFileSync(join(storage, "outbox/big.summary.json"), "utf8"));
  assert.equal(summary.rows, exp.rows);
  assert.equal(summary.malformed_rows, exp.malformedLines.length);
  assert.deepEqual(summary.malformed.map((m: any) => m.line), exp.malformedLines);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  const amount = summary.columns.amount;
  assert.equal(amount.type, "number");
  assert.equal(amount.count, exp.amount.count);
  assert.equal(amount.min, exp.amount.min);
  assert.equal(amount.max, exp.amount.max);
  assert.ok(close(amount.sum, exp.amount.sum), `amount sum ${amount.sum} vs ${exp.amount.sum}`);
  assert.ok(close(amount.mean, exp.amount.sum / exp.amount.count));
  const qty = summary.columns.qty;
  assert.deepEqual([qty.count, qty.empty, qty.min, qty.max, qty.sum], [exp.qty.count, exp.qty.empty, exp.qty.min, exp.qty.max, exp.qty.sum]);
  assert.equal(summary.columns.region.type, "string");
  assert.equal(summary.columns.region.distinct, REGIONS.length);
  assert.equal(summary.columns.id.min, 1);

  let lines = 0;
  let amountSum = 0;
  let withComma = 0;
  let first: unknown;
  let lastRec: unknown;
  for await (const line of createInterface({ input: createReadStream(join(storage, "outbox/big.jsonl")), crlfDelay: Infinity })) {
    const rec = JSON.parse(line);
    lines++;
    amountSum += Number(rec.amount);
    if (rec.note.includes(", \"rush\"")) withComma++;
    if (lines === 1) first = rec;
    lastRec = rec;
  }
  assert.equal(lines, exp.rows);
  assert.ok(close(amountSum, exp.amount.sum));
  assert.equal(withComma, exp.notesWithComma);
  assert.deepEqual(first, exp.first);
  assert.deepEqual(lastRec, exp.last);
  // Written atomically: no temporary files left beside the outputs.
  assert.deepEqual((await alice.storage.list("outbox")).map((f: any) => f.name).sort(), ["big.jsonl", "big.summary.json", "small.jsonl", "small.summary.json"]);

  // The last participant leaves: the session ends and the service's container goes.
  const stopped = new Promise<void>((resolve) => env.ts.server.launcher.stopped.once("stopped", () => resolve()));
  await settle(alice);
  alice.dispose();
  await stopped;
  assert.deepEqual(labelled(env.ownerId, room), []);
});
