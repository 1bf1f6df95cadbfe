import { test } from "node:test";
import assert from "node:assert/strict";
import { parseCpus, parseQuantity, QuantityError, validateManifestObject } from "../src/index.ts";
import { errorAt } from "./fixtures.ts";

const base = { version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a" } };

test("parseQuantity reads Kubernetes quantities and plain bytes", () => {
  assert.equal(parseQuantity("256Mi"), 256 * 1024 * 1024);
  assert.equal(parseQuantity("1Gi"), 1024 ** 3);
  assert.equal(parseQuantity("1.5Gi"), 1.5 * 1024 ** 3);
  assert.equal(parseQuantity("512M"), 512_000_000);
  assert.equal(parseQuantity("100k"), 100_000);
  assert.equal(parseQuantity(1048576), 1048576);
  assert.equal(parseQuantity("1048576"), 1048576);
});

test("parseQuantity refuses ambiguous and malformed sizes with a suggestion", () => {
  assert.throws(() => parseQuantity("256m"), (e: unknown) => e instanceof QuantityError && /did you mean "256Mi"/.test(e.message));
  assert.throws(() => parseQuantity("lots"), QuantityError);
  assert.throws(() => parseQuantity(-1), QuantityError);
});

test("parseCpus reads CPUs and millicores", () => {
  assert.equal(parseCpus(0.5), 0.5);
  assert.equal(parseCpus("500m"), 0.5);
  assert.equal(parseCpus("2"), 2);
  assert.throws(() => parseCpus(0), QuantityError);
});

test("a bad memory size in the manifest names the field, the expected form and the value", () => {
  const e = errorAt(validateManifestObject({ ...base, roomservice: { resources: { memory: "256MB" } } }), "roomservice.resources.memory");
  assert.match(e.message, /unknown suffix "MB"/);
  assert.equal(e.expected, 'a size such as "256Mi" or "1Gi", or a number of bytes');
  assert.equal(e.received, '"256MB"');
});

test("too little memory, bad cpus and too few pids are refused", () => {
  const r = validateManifestObject({ ...base, roomservice: { resources: { memory: "1Mi", cpus: "fast", pids: 10 } } });
  assert.match(errorAt(r, "roomservice.resources.memory").message, /6Mi/);
  assert.match(errorAt(r, "roomservice.resources.cpus").message, /not a CPU amount/);
  const pids = errorAt(r, "roomservice.resources.pids");
  assert.equal(pids.expected, "a number ≥ 64");
  assert.equal(pids.received, "10");
});
