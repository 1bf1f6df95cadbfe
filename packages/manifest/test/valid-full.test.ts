import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest } from "../src/index.ts";
import { FULL_JSON, FULL_YAML, accepted } from "./fixtures.ts";

test("env value/token/secret, storage, ports with liveness and an MCP endpoint are accepted", () => {
  const { manifest: m } = accepted(parseManifest(FULL_YAML, { filename: "meshagent.yaml" }));
  const env = m.container.environment ?? [];
  assert.equal(env[0].value, "debug");
  assert.equal(env[1].token?.identity, "research-tools");
  assert.deepEqual(env[1].token?.api?.messaging, {});
  assert.equal(env[2].secret?.id, "search-api");
  assert.equal(m.container.storage?.room?.[1].subpath, "reports");
  assert.equal(m.ports[0].liveness, "/health");
  assert.equal(m.ports[0].endpoints[0].mcp?.label, "research");
  assert.equal(m.ports[1].type, "tcp");
  assert.equal(m.metadata.annotations?.["meshagent.agent.type"], "Worker");
});

test("the same manifest in JSON parses to the same result", () => {
  const fromYaml = accepted(parseManifest(FULL_YAML));
  const fromJson = accepted(parseManifest(FULL_JSON, { filename: "meshagent.json" }));
  assert.deepEqual(fromJson.manifest, fromYaml.manifest);
  // format detection by option as well as by file name
  assert.deepEqual(accepted(parseManifest(FULL_JSON, { format: "json" })).manifest, fromYaml.manifest);
  // JSON is YAML too: without a hint it is still read correctly
  assert.deepEqual(accepted(parseManifest(FULL_JSON)).manifest, fromYaml.manifest);
});

test("other MeshAgent fields (agents, files, template, annotations, empty_dirs) are accepted", () => {
  const yaml = `version: v1
kind: Service
id: null
enabled: false
metadata: { name: with-agents }
agents:
  - name: helper
    description: answers questions
    annotations: { meshagent.agent.type: ChatBot }
    channels: { messaging: [{ prompts: [{ name: hi, prompt: hello }] }] }
files:
  - path: /agents/helper/rules.md
    text: be nice
container:
  image: helper:1
  template: none
  private: true
  writable_root_fs: true
  storage:
    empty_dirs: [{ path: /scratch }]
    files: [{ path: /etc/app.conf, text: "x=1" }]
ports:
  - num: 8080
    annotations: { kind: web }
    endpoints:
      - path: /agent
        meshagent: { identity: helper, api: { agents: {}, database: {} } }
`;
  const r = accepted(parseManifest(yaml));
  assert.equal(r.manifest.enabled, false);
  assert.equal(r.manifest.agents?.[0].name, "helper");
  assert.equal(r.manifest.container.template, "none");
  assert.deepEqual(r.warnings, []);
});
