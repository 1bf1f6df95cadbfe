import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest, validateManifestObject } from "../src/index.ts";
import { errorAt, withExtra } from "./fixtures.ts";

test("an unquoted number as an env value names the field, the type and the value", () => {
  const r = parseManifest(withExtra("  environment:\n    - name: PORT\n      value: 8080\n"));
  const e = errorAt(r, "container.environment[0].value");
  assert.equal(e.message, "wrong type");
  assert.match(e.expected, /^a string/);
  assert.equal(e.received, "8080");
  assert.deepEqual([e.line, e.column], [9, 14]);
});

test("a list where an object belongs, and an object where a list belongs", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: ["x"], container: { image: "a" }, ports: { num: 80 } });
  const meta = errorAt(r, "metadata");
  assert.equal(meta.received, "a list of 1 item");
  assert.equal(meta.expected, "an object with at least a name");
  const ports = errorAt(r, "ports");
  assert.equal(ports.expected, "a list");
  assert.equal(ports.received, "an object with num");
});

test("command must be a string or a list of strings", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a", command: 42 } });
  const e = errorAt(r, "container.command");
  assert.equal(e.expected, "a string or a list of strings");
  assert.equal(e.received, "42");
  // inside a list, the bad element is named
  const r2 = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a", command: ["node", 3] } });
  assert.equal(errorAt(r2, "container.command[1]").expected, "a string");
});

test("wrong version, kind and enum values list what is allowed", () => {
  const r = validateManifestObject({ version: "v2", kind: "Servce", metadata: { name: "x" }, container: { image: "a" }, ports: [{ num: 80, type: "udp" }] });
  assert.equal(errorAt(r, "version").expected, '"v1"');
  assert.equal(errorAt(r, "kind").message, 'not an allowed value (did you mean "Service"?)');
  assert.equal(errorAt(r, "ports[0].type").expected, 'one of "http", "tcp"');
});

test("a YAML 1.1 date where a string belongs says to quote it", () => {
  const r = parseManifest(withExtra("  environment:\n    - name: SINCE\n      value: 2024-01-02\n"));
  assert.match(errorAt(r, "container.environment[0].value").received, /^a date \(2024-01-02; quote it/);
});
