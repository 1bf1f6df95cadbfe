import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest, validateManifestObject } from "../src/index.ts";
import { errorAt } from "./fixtures.ts";

test("a container without an image is refused at container.image", () => {
  const r = parseManifest("version: v1\nkind: Service\nmetadata:\n  name: x\ncontainer:\n  command: run\n");
  const e = errorAt(r, "container.image");
  assert.equal(e.message, "required");
  assert.equal(e.expected, "a non-empty string");
  assert.equal(e.received, "nothing");
  assert.equal(e.line, 6); // where the field has to be added: inside container
});

test("an empty image or name is refused", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: " " }, container: { image: "" } });
  assert.equal(errorAt(r, "container.image").message, "must not be empty");
  assert.match(errorAt(r, "metadata.name").expected, /lowercase letters, digits and "-"/);
});

test("a manifest without a container (or with an external service) is refused with the reason", () => {
  const r = validateManifestObject({ version: "v1", kind: "Service", metadata: { name: "x" }, external: { url: "https://example.com" } });
  assert.match(errorAt(r, "container").expected, /container services/);
  assert.match(errorAt(r, "external").message, /not supported/);
});

test("an empty document says so", () => {
  const e = errorAt(parseManifest("# nothing here\n"), "");
  assert.equal(e.message, "the document is empty");
});
