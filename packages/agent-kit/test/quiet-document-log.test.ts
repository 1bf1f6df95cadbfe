/**
 * quietDocumentChangeLog: the SDK's per-change "Applying changes to doc:" console.log line is
 * dropped, every other console.log passes through unchanged; idempotent; restorable. And the
 * installed SDK still prints exactly that line (so the filter matches what it filters).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { quietDocumentChangeLog, SDK_DOCUMENT_CHANGE_LOG } from "../src/index.js";

test("the SDK's document-change lines are dropped, everything else passes; idempotent; restorable", () => {
  const seen: unknown[][] = [];
  const target = { log: (...a: unknown[]) => void seen.push(a) };
  const original = target.log;
  const restore = quietDocumentChangeLog(target);
  const again = quietDocumentChangeLog(target);
  target.log(SDK_DOCUMENT_CHANGE_LOG, JSON.stringify({ target: "x", elements: [] }));
  target.log("chat-agent connected to", "room");
  target.log("Applying changes to doc: is mine", 1);
  target.log({ Applying: "changes" });
  assert.deepEqual(seen, [["chat-agent connected to", "room"], ["Applying changes to doc: is mine", 1], [{ Applying: "changes" }]]);
  again();
  assert.notEqual(target.log, original, "the second call's restore is a no-op");
  restore();
  assert.equal(target.log, original);
});

test("the installed SDK prints that exact line from MeshDocument.receiveChanges (node and esm builds)", () => {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve("@meshagent/meshagent/package.json"));
  for (const build of ["node", "esm"]) {
    const src = readFileSync(join(root, "dist", build, "document.js"), "utf8");
    assert.ok(src.includes(`console.log(${JSON.stringify(SDK_DOCUMENT_CHANGE_LOG)},`), `dist/${build}/document.js: the SDK changed its log line; update SDK_DOCUMENT_CHANGE_LOG`);
  }
});
