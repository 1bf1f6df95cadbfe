import { test } from "node:test";
import assert from "node:assert/strict";
import { formatWarnings, parseManifest } from "../src/index.ts";
import { accepted } from "./fixtures.ts";

test("MeshAgent-only fields are accepted with a warning each, never silently", () => {
  const yaml = `version: v1
kind: Service
metadata: { name: x }
container:
  image: a
  run_as: { email: svc@example.com }
  pull_secret: { id: registry }
  on_demand: true
  storage:
    images: [{ image: models:1, path: /models }]
ports:
  - num: 8000
    published: true
    host_port: 18000
`;
  const r = accepted(parseManifest(yaml, { filename: "meshagent.yaml" }));
  assert.deepEqual(
    r.warnings.map((w) => w.path),
    ["container.run_as", "container.pull_secret", "container.on_demand", "container.storage.images", "ports[0].published", "ports[0].host_port"],
  );
  assert.match(formatWarnings(r.warnings, { filename: "meshagent.yaml" }), /^meshagent\.yaml:6:11: warning: container\.run_as: ignored:/);
});
