/**
 * The line splitter on its own: byte-based cuts on code-point boundaries, secrets masked
 * across chunk boundaries and the over-long-line cut, the tail flushed at the end.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LineSplitter, MAX_LINE_BYTES, maskSpec, secretsToMask } from "../src/logs.ts";

function split(chunks: (string | Uint8Array)[], secrets: string[] = [], max = MAX_LINE_BYTES): string[] {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), maskSpec(secretsToMask({ secretValues: secrets, secretFiles: {} })), max);
  for (const c of chunks) s.push(typeof c === "string" ? Buffer.from(c) : c);
  s.flush();
  return out;
}

test("issue 12 #11: an over-long line is cut by UTF-8 bytes on code-point boundaries (no broken surrogate pairs)", () => {
  // 4-byte emoji: 64 KiB is 16384 of them; one more spills into a second piece.
  const line = "😀".repeat(16385);
  const pieces = split([line + "\n"]);
  assert.equal(pieces.length, 2);
  assert.equal(Buffer.byteLength(pieces[0]), MAX_LINE_BYTES);
  assert.equal(pieces.join(""), line);
  for (const p of pieces) assert.ok(p.isWellFormed(), "no lone surrogate in a piece");
  // Fed byte by byte, an unterminated long line is cut the same way.
  const bytes = Buffer.from("é".repeat(40000));
  const fed = split([...Array(Math.ceil(bytes.length / 1000)).keys()].map((i) => bytes.subarray(i * 1000, (i + 1) * 1000)));
  assert.deepEqual(fed.map((p) => Buffer.byteLength(p)), [MAX_LINE_BYTES, 80000 - MAX_LINE_BYTES]);
  assert.ok(fed.every((p) => p.isWellFormed() && !p.includes("\ufffd")));
});

test("issue 12 #4: a one-line secret straddling the 64 KiB cut is masked whole, not half in each piece", () => {
  const secret = "sk-live-0123456789abcdef";
  const line = "x".repeat(MAX_LINE_BYTES - 10) + secret + "y".repeat(100);
  const pieces = split([line.slice(0, MAX_LINE_BYTES - 3), line.slice(MAX_LINE_BYTES - 3) + "\n"], [secret]);
  const joined = pieces.join("");
  assert.equal(joined, "x".repeat(MAX_LINE_BYTES - 10) + "****" + "y".repeat(100));
  for (const p of pieces) for (const part of [secret.slice(0, 10), secret.slice(10)]) assert.ok(!p.includes(part), `piece leaks ${part}`);
});

test("issue 12 #4: a multi-line secret printed whole is one ****; printed line by line, each line is masked", () => {
  const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
  assert.deepEqual(split([`k=${pem.trim()}!\n`], [pem]), ["k=****!"]);
  assert.deepEqual(split([pem.slice(0, 40), pem.slice(40)], [pem]), ["****"]);
  assert.deepEqual(split(["a MIIEvQIBADANBgkqhkiG9w0BAQEFAASC b\n"], [pem]), ["a **** b"]);
});

test("issue 12 #11: the unterminated last line is emitted on flush; CRLF is trimmed; a held-back secret prefix is emitted at the end", () => {
  assert.deepEqual(split(["line1\nTAIL"]), ["line1", "TAIL"]);
  assert.deepEqual(split(["a\r\nb\r\n"]), ["a", "b"]);
  assert.deepEqual(split(["ends with sk-li"], ["sk-live-0123"]), ["ends with sk-li"]);
});
