// The tools' logic, independent of MCP: streaming CSV validation and a Markdown report.
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, relative, extname } from "node:path";
import { pipeline } from "node:stream";
import { parse } from "csv-parse";
import { Ajv } from "ajv";
import { DATA_DIR, storagePath } from "./storage.mjs";

/**
 * A csv-parse stream over a file. pipeline(), not pipe(): a read error (a missing file) must
 * reach the parser, and so the `for await` loop, instead of crashing the process.
 */
function readCsv(abs, options) {
  const parser = parse(options);
  pipeline(createReadStream(abs), parser, () => {});
  return parser;
}

/**
 * Validates every row of a CSV file (header row = column names) against a JSON Schema for one
 * row. Cells are strings in CSV; Ajv's `coerceTypes` turns "42" into 42 where the schema asks
 * for a number, and empty cells count as missing, so `required` catches them. The file is
 * streamed: memory stays flat however large it is.
 *
 * Returns { path, rows, valid_rows, invalid_rows, columns, errors: [{line, column, message,
 * value}], errors_truncated }. `line` is the 1-based line in the file (the header is line 1).
 */
export async function validateCsv({ path, schema, maxErrors = 20 }) {
  const ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: false });
  let check;
  try {
    check = ajv.compile(schema);
  } catch (err) {
    throw new Error(`the JSON Schema does not compile: ${err.message}`);
  }
  const out = { path, rows: 0, valid_rows: 0, invalid_rows: 0, columns: [], errors: [], errors_truncated: false };
  const parser = readCsv(storagePath(path), {
    // The header row names the columns; keep them for the result.
    columns: (header) => (out.columns = header),
    info: true, bom: true, skip_empty_lines: true, skip_records_with_error: true,
  });
  // Keeps the `maxErrors` errors with the lowest line numbers: skipped records are reported
  // while parsing, ahead of the records still buffered, so errors do not arrive in line order.
  const addError = (e) => {
    out.errors.push(e);
    if (out.errors.length > maxErrors) {
      out.errors.sort((a, b) => a.line - b.line);
      out.errors.pop();
      out.errors_truncated = true;
    }
  };
  // A malformed record (wrong column count, bad quoting) is skipped and reported, not fatal.
  parser.on("skip", (err) => {
    out.rows++;
    out.invalid_rows++;
    addError({ line: err.lines, column: null, message: err.message, value: null });
  });
  for await (const { record, info } of parser) {
    out.rows++;
    const row = {};
    for (const [k, v] of Object.entries(record)) if (v !== "") row[k] = v;
    if (check(row)) {
      out.valid_rows++;
      continue;
    }
    out.invalid_rows++;
    for (const e of check.errors ?? []) {
      const column = e.keyword === "required" ? e.params.missingProperty : e.instancePath.replace(/^\//, "") || null;
      addError({ line: info.lines, column, message: e.message ?? e.keyword, value: column === null ? null : (record[column] ?? null) });
    }
  }
  out.errors.sort((a, b) => a.line - b.line);
  return out;
}

/** Per-column facts of a CSV: numeric min/max/mean when every non-empty cell is a number. */
async function csvSummary(abs) {
  const cols = new Map();
  let rows = 0;
  const parser = readCsv(abs, { columns: true, bom: true, skip_empty_lines: true, skip_records_with_error: true });
  for await (const record of parser) {
    rows++;
    for (const [k, v] of Object.entries(record)) {
      let c = cols.get(k);
      if (c === undefined) cols.set(k, (c = { empty: 0, numeric: true, min: Infinity, max: -Infinity, sum: 0, n: 0, distinct: new Set() }));
      if (v === "") {
        c.empty++;
        continue;
      }
      if (c.distinct.size <= 1000) c.distinct.add(v);
      const x = Number(v);
      if (c.numeric && Number.isFinite(x)) {
        c.n++;
        c.sum += x;
        if (x < c.min) c.min = x;
        if (x > c.max) c.max = x;
      } else c.numeric = false;
    }
  }
  return { rows, cols };
}

async function listFiles(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

const fmt = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(3));

/** A Markdown report of the files under a folder of room storage (CSV files get column tables). */
export async function markdownReport({ folder = "", title }) {
  const root = folder === "" ? DATA_DIR : storagePath(folder);
  const files = await listFiles(root);
  const lines = [`# ${title ?? `Report: ${folder || "room storage"}`}`, "", `${files.length} file(s).`, ""];
  for (const abs of files) {
    const rel = relative(DATA_DIR, abs);
    const st = await stat(abs);
    lines.push(`## ${rel}`, "", `${st.size} bytes, modified ${st.mtime.toISOString()}.`, "");
    if (extname(abs).toLowerCase() !== ".csv") continue;
    const { rows, cols } = await csvSummary(abs);
    lines.push(`${rows} row(s), ${cols.size} column(s).`, "", "| column | empty | distinct | min | max | mean |", "|---|---|---|---|---|---|");
    for (const [name, c] of cols) {
      const num = c.numeric && c.n > 0;
      const distinct = c.distinct.size > 1000 ? ">1000" : String(c.distinct.size);
      lines.push(`| ${name} | ${c.empty} | ${distinct} | ${num ? fmt(c.min) : ""} | ${num ? fmt(c.max) : ""} | ${num ? fmt(c.sum / c.n) : ""} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}
