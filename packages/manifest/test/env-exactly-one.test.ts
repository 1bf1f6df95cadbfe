import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest, validateManifestObject } from "../src/index.ts";
import { errorAt, withExtra } from "./fixtures.ts";

test("value and secret on one environment entry are refused, without echoing the value", () => {
  const r = parseManifest(withExtra("  environment:\n    - name: API_KEY\n      value: sk-live-123\n      secret:\n        id: api-key\n"));
  const e = errorAt(r, "container.environment[0]");
  assert.equal(e.message, "value and secret are both set; a variable takes exactly one of them");
  assert.equal(e.expected, "exactly one of value, token or secret");
  assert.equal(e.received, "value and secret");
  assert.doesNotMatch(JSON.stringify(r), /sk-live-123/);
});

test("an entry with no value at all says how to write an empty one", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a", environment: [{ name: "EMPTY", value: null }] } });
  const e = errorAt(r, "container.environment[0]");
  assert.match(e.message, /write value: "" for an empty variable/);
  assert.equal(e.received, "none of them");
});

test("secret.id is required and names its full path", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a", environment: [{ name: "A", value: "1" }, { name: "B", value: "2" }, { name: "K", secret: {} }] } });
  const e = errorAt(r, "container.environment[2].secret.id");
  assert.equal(e.message, "required");
  assert.equal(e.received, "nothing");
});

test("duplicate and invalid variable names are refused", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a", environment: [{ name: "A", value: "1" }, { name: "A", value: "2" }] } });
  assert.equal(errorAt(r, "container.environment[1].name").message, "duplicates container.environment[0]");
  const r2 = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a", environment: [{ name: "../etc/passwd", value: "1" }] } });
  assert.equal(errorAt(r2, "container.environment[0].name").message, "is not a valid environment variable name");
});
