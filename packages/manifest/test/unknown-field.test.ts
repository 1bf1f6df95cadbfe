import { test } from "node:test";
import assert from "node:assert/strict";
import { formatErrors, parseManifest, validateManifestObject } from "../src/index.ts";
import { errorAt } from "./fixtures.ts";

test("a misspelt field is rejected with a suggestion and its position", () => {
  const r = parseManifest(`version: v1
kind: Service
metadata: { name: x }
container:
  imag: foo:1
`);
  const e = errorAt(r, "container.imag");
  assert.equal(e.message, 'unknown field (did you mean "image"?)');
  assert.match(e.expected, /^one of the fields image, command, working_dir/);
  assert.equal(e.received, 'the field "imag"');
  assert.deepEqual([e.line, e.column], [5, 3]);
  // the missing image is reported too, at the container section
  assert.equal(errorAt(r, "container.image").message, "required");
  assert.match(formatErrors(r.ok ? [] : r.errors, { filename: "meshagent.yaml" }), /^meshagent\.yaml:5:3: container\.image: required/m);
});

test("camelCase spellings of snake_case fields are suggested", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a", workingDir: "/app" } });
  assert.equal(errorAt(r, "container.workingDir").message, 'unknown field (did you mean "working_dir"?)');
});

test("Roomservice settings written at the top level point to the roomservice section", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a" }, probes: {} });
  assert.match(errorAt(r, "probes").message, /roomservice\.probes/);
});

test("unknown fields inside the roomservice section and API grants are rejected too", () => {
  const r = validateManifestObject({
    version: "v1",
    kind: "Service",
    metadata: { name: "x" },
    container: { image: "a", environment: [{ name: "T", token: { identity: "bot", api: { mesaging: {} } } }] },
    roomservice: { restart: { initialBackoff: 2 } },
  });
  assert.equal(errorAt(r, "container.environment[0].token.api.mesaging").message, 'unknown field (did you mean "messaging"?)');
  assert.equal(errorAt(r, "roomservice.restart.initialBackoff").message, 'unknown field (did you mean "initialBackoffSeconds"?)');
});
