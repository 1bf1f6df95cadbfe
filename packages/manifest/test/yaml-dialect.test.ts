import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest } from "../src/index.ts";
import { accepted } from "./fixtures.ts";

test("YAML is read as YAML 1.1 like MeshAgent's loader: yes/no booleans and merge keys", () => {
  const yaml = `version: v1
kind: Service
metadata: { name: x }
x-mount: &mount { read_only: yes }
container:
  image: a
  storage:
    room:
      - <<: *mount
        path: /data
`;
  // x-mount is not a MeshAgent field: the anchor trick needs it, and it is refused like any other
  const r = parseManifest(yaml);
  assert.equal(r.ok, false);
  const ok = accepted(parseManifest(yaml.replace("x-mount: &mount { read_only: yes }\n", "").replace("<<: *mount", "read_only: yes")));
  assert.equal(ok.manifest.container.storage?.room?.[0].read_only, true);
});

test("merge keys inside allowed fields work", () => {
  const yaml = `version: v1
kind: Service
metadata:
  name: x
  annotations: &a { team: core }
container:
  image: a
ports:
  - num: 8000
    annotations:
      <<: *a
      owner: me
`;
  const r = accepted(parseManifest(yaml));
  assert.deepEqual(r.manifest.ports[0].annotations, { team: "core", owner: "me" });
});

test("an unknown YAML tag is read as plain text and warned about", () => {
  const r = accepted(parseManifest("version: v1\nkind: Service\nmetadata: { name: x }\ncontainer:\n  image: !template a:1\n"));
  assert.equal(r.manifest.container.image, "a:1");
  assert.deepEqual(r.warnings, [{ path: "", message: "YAML: Unresolved tag: !template", line: 5, column: 10 }]);
});
