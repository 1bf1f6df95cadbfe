/**
 * The progress panel's reducer (src/task-progress.ts) on examples/pipeline's message shapes:
 * a run goes running → done or failed, row errors keep their line numbers and stay bounded,
 * a file dropped again starts a new run, unknown or malformed messages change nothing, and
 * the number of files kept is bounded.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyTaskMessage, eta, MAX_ROW_ERRORS, MAX_TASKS, type Task } from "../src/task-progress.ts";

type Tasks = ReadonlyMap<string, Task>;
const F = "inbox/sales.csv";
const progress = (percent: number, extra: Record<string, unknown> = {}) => ({
  task: `pipeline:${F}`, file: F, percent, rows: percent * 10, bytes: percent * 100, total_bytes: 10000, malformed_rows: 0,
  bytes_per_second: 500, eta_seconds: (100 - percent) / 5, state: "running", ...extra,
});

test("a run: progress, row errors with line numbers, done", () => {
  let ts: Tasks = new Map();
  ts = applyTaskMessage(ts, "progress", progress(10), "pipeline", 1);
  ts = applyTaskMessage(ts, "row_error", { file: F, line: 7, message: "Invalid Record Length: expect 3, got 2 on line 7" }, "pipeline", 2);
  ts = applyTaskMessage(ts, "progress", progress(55, { malformed_rows: 1 }), "pipeline", 3);
  let t = ts.get(F)!;
  assert.equal(t.state, "running");
  assert.equal(t.percent, 55);
  assert.equal(t.rows, 550);
  assert.equal(t.totalBytes, 10000);
  assert.equal(t.etaSeconds, 9);
  assert.deepEqual(t.rowErrors, [{ line: 7, message: "Invalid Record Length: expect 3, got 2 on line 7" }]);
  ts = applyTaskMessage(ts, "progress", progress(100, { state: "done", eta_seconds: 0 }), "pipeline", 4);
  ts = applyTaskMessage(ts, "done", { file: F, outputs: ["outbox/sales.jsonl", "outbox/sales.summary.json"], rows: 1000, malformed_rows: 1, bytes: 10000, seconds: 2.5 }, "pipeline", 5);
  t = ts.get(F)!;
  assert.equal(t.state, "done");
  assert.equal(t.percent, 100);
  assert.equal(t.rows, 1000);
  assert.deepEqual(t.outputs, ["outbox/sales.jsonl", "outbox/sales.summary.json"]);
  assert.equal(t.rowErrors.length, 1, "the row errors of the run stay with it");
  // The same file dropped again: a new run.
  ts = applyTaskMessage(ts, "progress", progress(3), "pipeline", 6);
  t = ts.get(F)!;
  assert.equal(t.state, "running");
  assert.equal(t.rowErrors.length, 0);
});

test("failed, bounded row errors, ignored messages, bounded files", () => {
  let ts: Tasks = new Map();
  for (let i = 1; i <= MAX_ROW_ERRORS + 10; i++) ts = applyTaskMessage(ts, "row_error", { file: F, line: i, message: "bad" }, "p", i);
  const t = ts.get(F)!;
  assert.equal(t.rowErrors.length, MAX_ROW_ERRORS);
  assert.equal(t.rowErrors[0].line, 11, "the newest are kept");
  ts = applyTaskMessage(ts, "failed", { file: F, error: "ENOENT: no such file" }, "p", 100);
  assert.equal(ts.get(F)!.state, "failed");
  assert.equal(ts.get(F)!.error, "ENOENT: no such file");

  const same = ts;
  assert.equal(applyTaskMessage(ts, "chat", { file: F }, "p", 1), same);
  assert.equal(applyTaskMessage(ts, "progress", { percent: 5 }, "p", 1), same, "no file: ignored");
  assert.equal(applyTaskMessage(ts, "progress", null, "p", 1), same);
  // Wrong field types are not taken.
  ts = applyTaskMessage(new Map(), "progress", { file: F, percent: "lots", rows: null }, "p", 1);
  assert.equal(ts.get(F)!.percent, 0);

  let many: Tasks = new Map();
  for (let i = 0; i < MAX_TASKS + 5; i++) many = applyTaskMessage(many, "progress", { file: `inbox/${i}.csv`, percent: 1 }, "p", i);
  assert.equal(many.size, MAX_TASKS);
  assert.ok(many.has(`inbox/${MAX_TASKS + 4}.csv`) && !many.has("inbox/0.csv"));
  assert.equal(eta(42), "42 s");
  assert.equal(eta(185), "3 min 5 s");
  assert.equal(eta(3720), "1 h 2 min");
});
