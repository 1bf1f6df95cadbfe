import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_MANIFEST_BYTES, parseManifest, validateManifestObject } from "../src/index.ts";
import { accepted, errorAt } from "./fixtures.ts";

test("validateManifestObject accepts an API body and returns it unchanged as raw", () => {
  const body = { version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a" } };
  const r = accepted(validateManifestObject(body));
  assert.equal(r.raw, body);
  assert.equal(r.manifest.roomservice.stop.signal, "SIGTERM");
  assert.equal(r.ok ? r.warnings.length : -1, 0);
});

test("a non-object body is one error at the document", () => {
  for (const body of [null, "text", [1], 3]) {
    const e = errorAt(validateManifestObject(body), "");
    assert.match(e.expected, /service manifest/);
  }
});

test("errors from objects have no positions; errors from text do", () => {
  const e = errorAt(validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: 3 } }), "container.image");
  assert.equal(e.line, undefined);
});

test("oversized text is refused before parsing", () => {
  const e = errorAt(parseManifest("#".repeat(MAX_MANIFEST_BYTES + 1)), "");
  assert.equal(e.message, "the manifest is too large");
});
