import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest } from "../src/index.ts";
import { errorAt } from "./fixtures.ts";

test("a YAML syntax error gives line and column", () => {
  const r = parseManifest("version: v1\nkind: Service\nmetadata:\n  name: x\n   bad: indent\ncontainer: {image: a}\n");
  assert.equal(r.ok, false);
  if (r.ok) return;
  const e = r.errors[0];
  assert.equal(e.path, "");
  assert.match(e.message, /^YAML syntax error at line \d+, column \d+: /);
  assert.equal(e.expected, "valid YAML");
  assert.equal(typeof e.line, "number");
  assert.equal(typeof e.column, "number");
});

test("an unclosed flow sequence or map points at its opening bracket, and says where the parser noticed", () => {
  // The yaml library reports the start of the next line (3:1); the fix belongs at the "[".
  const e = errorAt(parseManifest("version: v1\nports: [1,\nkind: Service\n"), "");
  assert.deepEqual([e.line, e.column], [2, 8]);
  assert.match(e.message, /^YAML syntax error: the "\[" at line 2, column 8 is never closed \(noticed at line 3, column 1\): /);
  assert.equal(e.received, JSON.stringify("ports: [1,"));
  const map = errorAt(parseManifest("version: v1\nmetadata: {name: web\nkind: Service\n"), "");
  assert.deepEqual([map.line, map.column], [2, 11]);
  assert.match(map.message, /the "\{" at line 2, column 11 is never closed/);
  // Brackets in quoted scalars and comments, and closed ones, are not the culprit.
  const quoted = errorAt(parseManifest("version: v1 # [x\nmetadata: {name: '[it''s'}\nports: [\"]\", 2,\nkind: Service\n"), "");
  assert.deepEqual([quoted.line, quoted.column], [3, 8]);
});

test("duplicate keys are a syntax error (MeshAgent's loader would silently keep the last)", () => {
  const r = parseManifest("version: v1\nversion: v1\n");
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.errors[0].message, /[Uu]nique|duplicate/);
});

test("a JSON syntax error gives line and column", () => {
  const e = errorAt(parseManifest('{\n  "version": "v1",\n  "kind": "Service",\n}', { format: "json" }), "");
  assert.match(e.message, /^JSON syntax error at line 4, column 1/);
  assert.equal(e.line, 4);
  assert.equal(e.expected, "valid JSON");
});

test("more than one YAML document is refused", () => {
  const r = parseManifest("version: v1\n---\nversion: v1\n");
  assert.equal(r.ok, false);
});
