import { test } from "node:test";
import assert from "node:assert/strict";
import { formatErrors, parseManifest, validateManifestObject } from "../src/index.ts";
import { errorAt, withExtra } from "./fixtures.ts";

test("port 8078 is refused because the in-room API uses it", () => {
  const r = parseManifest(withExtra("ports:\n  - num: 8078\n"));
  const e = errorAt(r, "ports[0].num");
  assert.equal(e.message, "8078 is reserved for the in-room API");
  assert.equal(e.expected, "a port other than 8078");
  assert.equal(e.received, "8078");
  assert.equal(
    formatErrors(r.ok ? [] : r.errors),
    "line 8:10: ports[0].num: 8078 is reserved for the in-room API (expected a port other than 8078, got 8078)",
  );
});

test("ports outside 1-65535, duplicates and MeshAgent's '*' are refused", () => {
  const base = { version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a" } };
  const big = errorAt(validateManifestObject({ ...base, ports: [{ num: 70000 }] }), "ports[0].num");
  assert.deepEqual([big.message, big.expected, big.received], ["too large", "a port number from 1 to 65535 (not 8078)", "70000"]);
  assert.equal(errorAt(validateManifestObject({ ...base, ports: [{ num: 0 }] }), "ports[0].num").message, "too small");
  assert.match(errorAt(validateManifestObject({ ...base, ports: [{ num: "*" }] }), "ports[0].num").message, /"\*" \(any port\) is not supported/);
  assert.equal(errorAt(validateManifestObject({ ...base, ports: [{ num: 80 }, { num: 80 }] }), "ports[1].num").message, "duplicates ports[0]");
  assert.equal(errorAt(validateManifestObject({ ...base, ports: [{}] }), "ports[0].num").message, "required");
});
