/**
 * KeptLogReader (services/log-catchup.ts): reads a session's kept log files forward across
 * calls, merging services by seq, starting after a given seq, in batches; a line still being
 * written (no newline yet, unparsable) is read again next time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeptLogReader, sessionLogFiles } from "../src/services/log-catchup.ts";

const kept = (seq: number, service: string) => JSON.stringify({ seq, at: "t", session_id: "s", service_id: service, service_name: service, stream: "stdout", text: `${service}@${seq}`, line_no: seq }) + "\n";

test("kept lines after a seq, merged across services in seq order, batch by batch, each file read forward", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-catchup-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "a.log"), [1, 3, 5, 7, 9].map((s) => kept(s, "a")).join(""));
  await writeFile(join(dir, "b.log"), [2, 4, 6, 8, 10].map((s) => kept(s, "b")).join(""));
  await writeFile(join(dir, "notes.txt"), "not a log");
  const files = await sessionLogFiles(dir);
  assert.deepEqual(files.map((f) => f.slice(dir.length + 1)).sort(), ["a.log", "b.log"]);
  assert.deepEqual((await sessionLogFiles(dir, "b")).map((f) => f.slice(dir.length + 1)), ["b.log"]);
  assert.deepEqual(await sessionLogFiles(join(dir, "missing")), []);

  const r = new KeptLogReader();
  const seqs = async (after: number, max: number) => (await r.next(files, after, max)).map((l) => l.seq);
  assert.deepEqual(await seqs(2, 3), [3, 4, 5]);
  assert.deepEqual(await seqs(5, 3), [6, 7, 8]);
  // A line being written (cut, unparsable) is not returned, and is read again once complete.
  await appendFile(join(dir, "a.log"), kept(11, "a").slice(0, 20));
  assert.deepEqual(await seqs(8, 10), [9, 10]);
  await appendFile(join(dir, "a.log"), kept(11, "a").slice(20));
  assert.deepEqual(await seqs(10, 10), [11]);
  assert.deepEqual(await seqs(11, 10), []);
  // A fresh reader starts from the files' beginning.
  assert.deepEqual((await new KeptLogReader().next(files, 0, 100)).map((l) => l.text).slice(0, 3), ["a@1", "b@2", "a@3"]);
});

test("a line cut before its first comma is not passed over, and a complete line that is not JSON does not hide the lines after it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-catchup-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "a.log");
  await writeFile(file, kept(12344, "a"));
  const r = new KeptLogReader();
  const seqs = async (after: number) => (await r.next([file], after, 10)).map((l) => l.seq);
  assert.deepEqual(await seqs(0), [12344]);
  // `{"seq":1234` (12345 cut mid-number) read as seq 123 without the comma check: not after
  // 12344, so it was passed over and the rest of the line misread — one line lost.
  await appendFile(file, kept(12345, "a").slice(0, 11));
  assert.deepEqual(await seqs(12344), []);
  await appendFile(file, kept(12345, "a").slice(11));
  assert.deepEqual(await seqs(12344), [12345]);
  // A crash cut a line and the next run appended after it: the joined line is not JSON; the
  // lines around it are all returned, in one batch.
  await appendFile(file, kept(12346, "a") + kept(12347, "a").slice(0, 30) + kept(12348, "a") + kept(12349, "a"));
  assert.deepEqual(await seqs(12345), [12346, 12349]);
  const fresh = new KeptLogReader();
  assert.deepEqual((await fresh.next([file], 12345, 1)).map((l) => l.seq), [12346]);
  assert.deepEqual((await fresh.next([file], 12346, 10)).map((l) => l.seq), [12349]);
});
