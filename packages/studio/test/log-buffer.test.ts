/**
 * LogBuffer (src/log-buffer.ts): lines once each by seq, bounded, and lines the stream never
 * delivered counted from the jumps in each service's `line_no` (per session), with a marker on
 * the line after each gap.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LogBuffer } from "../src/log-buffer.ts";
import type { LogLine } from "../src/types.ts";

let seq = 0;
const line = (service: string, lineNo: number | undefined, session = "s1"): LogLine => ({
  seq: ++seq, at: "2026-01-01T00:00:00.000Z", session_id: session, service_id: service, service_name: service, stream: "stdout", text: `${service} ${lineNo}`,
  ...(lineNo === undefined ? {} : { line_no: lineNo }),
});

test("skipped lines are counted per service from line_no jumps, and marked on the line after the gap", () => {
  const b = new LogBuffer();
  // A fresh stream starts mid-session (the replayed tail): no gap before the first line seen.
  b.push(line("a", 500));
  b.push(line("a", 501));
  b.push(line("b", 7));
  const afterGap = line("a", 600);
  b.push(afterGap);
  b.push(line("b", 8));
  b.push(line("b", 10));
  assert.equal(b.skipped, 98 + 1);
  assert.equal(b.gaps.get(afterGap.seq), 98);
  // A replayed line (seq already seen) changes nothing.
  b.push({ ...afterGap });
  assert.equal(b.lines.length, 6);
  // A new session numbers from 1 again: not a gap. Lines without line_no are not counted.
  b.push(line("a", 1, "s2"));
  b.push(line("a", undefined, "s2"));
  assert.equal(b.skipped, 99);
});

test("gap markers go with the lines they mark when the buffer drops its oldest lines", () => {
  const b = new LogBuffer(10);
  b.push(line("a", 1));
  const marked = line("a", 5);
  b.push(marked);
  assert.equal(b.gaps.size, 1);
  for (let n = 6; n < 20; n++) b.push(line("a", n));
  assert.ok(b.lines.length <= 10);
  assert.equal(b.gaps.size, 0, "the marked line was dropped, and its marker with it");
  assert.equal(b.skipped, 3, "the count of skipped lines stays");
});

test("a new live session lets the earlier sessions' lines go, as evictions from the front", () => {
  const b = new LogBuffer();
  b.push(line("a", 1, "old"));
  b.push(line("a", 5, "old")); // a gap in the old session
  assert.equal(b.skipped, 3);
  const before = b.dropped;
  b.startSession("new");
  assert.equal(b.lines.length, 0, "no line of the ended session stays on the live page");
  assert.equal(b.dropped, before + 2, "the viewer's absolute indices stay valid");
  assert.equal(b.skipped, 0, "the old session's gaps are not the new one's");
  b.push(line("a", 1, "new"));
  b.push(line("a", 2, "new"));
  b.startSession("new"); // the snapshot after a reconnect names the same session
  assert.deepEqual(b.lines.map((l) => l.text), ["a 1", "a 2"]);
  assert.equal(b.skipped, 0);
});

test("a new session whose seqs start lower than the last session's is shown, not taken for a replay (a room moved to another node)", () => {
  const b = new LogBuffer();
  const at = (s: number, session: string): LogLine => ({ ...line("a", undefined, session), seq: s });
  b.push(at(9_000, "old"));
  b.push(at(9_001, "old"));
  b.startSession("new");
  b.push(at(100, "new"));
  b.push(at(101, "new"));
  b.push(at(101, "new")); // a replay after a reconnect
  assert.deepEqual(b.lines.map((l) => `${l.session_id}${l.seq}`), ["new100", "new101"]);
});
