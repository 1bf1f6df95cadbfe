import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest } from "../src/index.ts";
import { MINIMAL_YAML, accepted } from "./fixtures.ts";

test("a minimal MeshAgent manifest is accepted", () => {
  const r = accepted(parseManifest(MINIMAL_YAML, { filename: "meshagent.yaml" }));
  assert.equal(r.manifest.metadata.name, "echo");
  assert.equal(r.manifest.container.image, "echo-agent:1.0");
  assert.deepEqual(r.warnings, []);
});

test("raw is the document as written, without defaults", () => {
  const r = accepted(parseManifest(MINIMAL_YAML));
  assert.deepEqual(r.raw, { version: "v1", kind: "Service", metadata: { name: "echo" }, container: { image: "echo-agent:1.0" } });
});
