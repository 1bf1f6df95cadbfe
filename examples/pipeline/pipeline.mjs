// A data pipeline service. Room storage is mounted at /data. When a CSV file lands in inbox/
// (the Room API's storage events tell us: no polling), it becomes outbox/<name>.jsonl and
// outbox/<name>.summary.json, one file at a time, with progress sent to the room as
// `progress` messages (Studio shows them as a progress bar) and developer log entries.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { mkdir } from "node:fs/promises";
import { join, basename } from "node:path";
import { csvToJsonl } from "./transform.mjs";

const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");

const DATA = process.env.DATA_DIR ?? "/data";
const INBOX = "inbox/";
const OUTBOX = "outbox";
/** Progress at most every this many ms, or when the percentage moves by PROGRESS_STEP. */
const PROGRESS_MS = 1000;
const PROGRESS_STEP = 2;

const room = new RoomClient();
// Readiness that means "joined the room": the manifest's readiness probe asks GET /ready on
// READY_PORT, answered 200 only once this service is connected with messaging on.
let joined = false;
createServer((req, res) => res.writeHead(joined ? 200 : 503).end(joined ? "joined" : "joining"))
  .listen(Number(process.env.READY_PORT ?? 9203), "127.0.0.1");
// The stop handler is set before anything awaits: a stop that comes while connecting must
// still end with exit code 0 (without a handler Node dies of the SIGTERM: code 143).
process.on("SIGTERM", () => {
  try {
    room.dispose();
  } catch {
    // already closed by the server ending the session
  }
  process.exit(0);
});
await room.start();
room.messaging.enable();
// Joined once the server has enabled messaging for us (others have been told we are here).
room.messaging.on("message", (e) => {
  if (e.message.type === "messaging.enabled") joined = true;
});

// Messages leave in order, one at a time; progress is throttled, so this chain stays short.
let outgoing = Promise.resolve();
function report(type, message) {
  outgoing = outgoing
    .then(() => Promise.all([
      room.messaging.broadcastMessage({ type, message }),
      room.developer.log(`pipeline.${type}`, message),
    ]))
    .catch((err) => console.error(`could not send ${type}:`, err.message));
  return outgoing;
}

// ---- the queue: files are processed one after another, each path once while queued ----
const queue = [];
const queued = new Set();
let busy = false;

function enqueue(path) {
  if (!path.startsWith(INBOX) || !path.toLowerCase().endsWith(".csv") || queued.has(path)) return;
  queue.push(path);
  queued.add(path);
  console.log(`queued ${path} (${queue.length} waiting)`);
  void drain();
}

async function drain() {
  if (busy) return;
  busy = true;
  try {
    while (queue.length > 0) {
      const path = queue.shift();
      queued.delete(path);
      await processFile(path);
    }
  } finally {
    busy = false;
  }
}

async function processFile(path) {
  const name = basename(path, ".csv");
  const outJsonl = `${OUTBOX}/${name}.jsonl`;
  const outSummary = `${OUTBOX}/${name}.summary.json`;
  const started = Date.now();
  let lastAt = 0;
  let lastPercent = -PROGRESS_STEP;
  const progress = (p, final = false) => {
    const percent = p.total_bytes === 0 ? 100 : Math.floor((p.bytes / p.total_bytes) * 1000) / 10;
    const now = Date.now();
    if (!final && now - lastAt < PROGRESS_MS && percent - lastPercent < PROGRESS_STEP) return;
    lastAt = now;
    lastPercent = percent;
    const elapsed = (now - started) / 1000;
    const rate = elapsed > 0 ? p.bytes / elapsed : 0;
    void report("progress", {
      task: `pipeline:${path}`, file: path, percent: final ? 100 : Math.min(percent, 99.9),
      rows: p.rows, bytes: p.bytes, total_bytes: p.total_bytes, malformed_rows: p.malformed,
      bytes_per_second: Math.round(rate), eta_seconds: final ? 0 : rate > 0 ? Math.round((p.total_bytes - p.bytes) / rate) : null,
      state: final ? "done" : "running",
    });
  };
  console.log(`processing ${path}`);
  try {
    await mkdir(join(DATA, OUTBOX), { recursive: true });
    const summary = await csvToJsonl({
      input: join(DATA, path), outJsonl: join(DATA, outJsonl), outSummary: join(DATA, outSummary),
      onProgress: (p) => progress(p),
      onMalformed: (m) => void report("row_error", { file: path, line: m.line, message: m.message }),
    });
    progress({ bytes: summary.bytes, total_bytes: summary.bytes, rows: summary.rows, malformed: summary.malformed_rows }, true);
    const seconds = (Date.now() - started) / 1000;
    await report("done", {
      file: path, outputs: [outJsonl, outSummary], rows: summary.rows, malformed_rows: summary.malformed_rows, bytes: summary.bytes,
      seconds, peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    });
    console.log(`done ${path}: ${summary.rows} rows, ${summary.malformed_rows} malformed, ${seconds.toFixed(1)} s`);
  } catch (err) {
    console.error(`failed ${path}:`, err.message);
    await report("failed", { file: path, error: err.message });
  }
}

// New and replaced files (uploads) and files moved into inbox/.
room.storage.on("file.updated", (e) => enqueue(e.path));
room.storage.on("file.moved", (e) => enqueue(e.destinationPath));

// Both folders exist from the first start, so a newcomer sees where to drop files (Studio's
// file panel, room.storage.list) instead of having to create inbox/ first.
for (const dir of [INBOX, OUTBOX]) {
  await mkdir(join(DATA, dir), { recursive: true }).catch((err) => console.error(`could not create ${dir} in ${DATA}:`, err.message));
}

// Catch up once at start: files that arrived while no session (and so no pipeline) was running.
try {
  const done = new Set((await room.storage.list(OUTBOX).catch(() => [])).map((f) => f.name));
  for (const f of await room.storage.list("inbox").catch(() => [])) {
    if (!f.isFolder && !done.has(`${basename(f.name, ".csv")}.summary.json`)) enqueue(`${INBOX}${f.name}`);
  }
} catch (err) {
  console.error("could not list inbox/:", err.message);
}
console.log("pipeline ready: drop CSV files into inbox/");
