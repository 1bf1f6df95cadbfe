// CSV → JSON Lines + per-column statistics, streamed: memory stays flat whatever the size.
// No room in here: pipeline.mjs wires it to storage events and progress messages.
import { createReadStream, createWriteStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { dirname, join, basename } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parse } from "csv-parse";

/** Malformed records kept in the summary (all are counted; the rest only reported live). */
const MAX_MALFORMED_KEPT = 100;
/** Distinct values counted exactly up to this many per column. */
const MAX_DISTINCT = 10_000;

/** Running statistics of one column. */
class ColumnStats {
  constructor() {
    this.count = 0; // non-empty cells
    this.empty = 0;
    this.numeric = true; // every non-empty cell so far is a finite number
    this.min = Infinity;
    this.max = -Infinity;
    this.sum = 0;
    this.distinct = new Set();
    this.distinctOverflow = false;
  }

  add(v) {
    if (v === "" || v === undefined) {
      this.empty++;
      return;
    }
    this.count++;
    if (!this.distinctOverflow) {
      this.distinct.add(v);
      if (this.distinct.size > MAX_DISTINCT) {
        this.distinctOverflow = true;
        this.distinct.clear();
      }
    }
    if (!this.numeric) return;
    const x = Number(v);
    if (!Number.isFinite(x)) {
      this.numeric = false;
      return;
    }
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }

  toJSON() {
    const num = this.numeric && this.count > 0;
    return {
      count: this.count,
      empty: this.empty,
      type: num ? "number" : this.count === 0 ? "empty" : "string",
      min: num ? this.min : null,
      max: num ? this.max : null,
      mean: num ? this.sum / this.count : null,
      sum: num ? this.sum : null,
      distinct: this.distinctOverflow ? null : this.distinct.size,
      distinct_over: this.distinctOverflow ? MAX_DISTINCT : null,
    };
  }
}

/** Writes through a temp file in the same directory, fsync, rename: readers never see half a file. */
async function atomicTarget(finalPath) {
  const tmp = join(dirname(finalPath), `.${basename(finalPath)}.${randomUUID()}.tmp`);
  return {
    tmp,
    async commit() {
      const fh = await open(tmp, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, finalPath);
    },
    discard: () => rm(tmp, { force: true }),
  };
}

/**
 * Transforms `input` (CSV, header row = column names) into `outJsonl` (one JSON object per
 * valid row, values as the CSV's strings) and `outSummary` (row counts, per-column stats,
 * malformed records with line numbers). A malformed record (wrong column count, bad quoting)
 * is reported through `onMalformed({line, message})` and skipped; the run goes on.
 * `onProgress({bytes, total_bytes, rows, malformed})` is called as bytes are consumed.
 */
export async function csvToJsonl({ input, outJsonl, outSummary, onProgress = () => {}, onMalformed = () => {} }) {
  const totalBytes = (await stat(input)).size;
  const columns = new Map();
  let header = [];
  let rows = 0;
  let malformedCount = 0;
  const malformed = [];
  const parser = parse({
    columns: (h) => {
      header = h;
      for (const c of h) columns.set(c, new ColumnStats());
      return h;
    },
    bom: true, skip_empty_lines: true, skip_records_with_error: true, info: false,
  });
  parser.on("skip", (err) => {
    malformedCount++;
    const m = { line: err.lines, message: err.message };
    if (malformed.length < MAX_MALFORMED_KEPT) malformed.push(m);
    onMalformed(m);
  });
  const toJsonl = new Transform({
    writableObjectMode: true,
    transform(record, _enc, cb) {
      rows++;
      for (const [k, v] of Object.entries(record)) columns.get(k)?.add(v);
      if ((rows & 0x3ff) === 0) onProgress({ bytes: parser.info.bytes, total_bytes: totalBytes, rows, malformed: malformedCount });
      cb(null, JSON.stringify(record) + "\n");
    },
  });
  const out = await atomicTarget(outJsonl);
  try {
    // Backpressure bounds what is in flight. Reads stay at the default 64 KiB: the parser turns
    // a whole chunk into records at once, and with 1 MiB chunks those records outlive V8's
    // young generation, so the heap (and RSS) grew about threefold in a measurement.
    await pipeline(createReadStream(input), parser, toJsonl, createWriteStream(out.tmp));
    await out.commit();
  } catch (err) {
    await out.discard();
    throw err;
  }
  const summary = {
    input: basename(input),
    bytes: totalBytes,
    rows,
    malformed_rows: malformedCount,
    malformed,
    columns: Object.fromEntries(header.map((c) => [c, columns.get(c).toJSON()])),
  };
  const sum = await atomicTarget(outSummary);
  try {
    const fh = await open(sum.tmp, "w");
    await fh.writeFile(JSON.stringify(summary, null, 2) + "\n");
    await fh.close();
    await sum.commit();
  } catch (err) {
    await sum.discard();
    throw err;
  }
  onProgress({ bytes: totalBytes, total_bytes: totalBytes, rows, malformed: malformedCount });
  return summary;
}
