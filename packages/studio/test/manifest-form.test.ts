/**
 * The Add/Edit form's mapping to manifests: a manifest read into the form and written back
 * is unchanged (fields the form has no control for survive), edits land in the right place,
 * cleared fields disappear, and the result is a valid manifest for the server's validator.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateManifestObject } from "@roomservice/manifest";
import { emptyEnv, emptyForm, fromManifest, manifestOfRecord, toManifest } from "../src/manifest-form.ts";

const FULL = {
  version: "v1",
  kind: "Service",
  metadata: { name: "tools", description: "research tools", annotations: { "meshagent.agent.type": "Worker" } },
  container: {
    image: "research-tools:2.3",
    command: "python -m tools.server --port 8000",
    working_dir: "/app",
    environment: [
      { name: "LOG_LEVEL", value: "debug" },
      { name: "MESHAGENT_TOKEN", token: { identity: "tools", role: "agent" } },
      { name: "SEARCH_API_KEY", secret: { id: "search-api" } },
    ],
    storage: { room: [{ path: "/reports", subpath: "reports", read_only: true }] },
  },
  ports: [{ num: 8000, type: "http", liveness: "/health", endpoints: [{ path: "/mcp", mcp: { label: "research" } }] }],
  roomservice: {
    probes: { readiness: { httpGet: { path: "/ready" }, periodSeconds: 5 } },
    restart: { policy: "always" },
    resources: { memory: "512Mi", cpus: 1 },
  },
};

test("a manifest round-trips through the form unchanged, keeping fields the form does not show", () => {
  assert.deepEqual(toManifest(fromManifest(FULL), FULL), FULL);
  assert.ok(validateManifestObject(toManifest(fromManifest(FULL), FULL)).ok);
});

test("form edits land in the manifest; cleared fields disappear", () => {
  const f = fromManifest(FULL);
  f.env[0]!.value = "info";
  f.env.push({ ...emptyEnv(), name: "EXTRA", value: "1" });
  f.command = "";
  f.memory = "";
  f.probes.readiness = { kind: "none", path: "", port: "" };
  f.mounts = [];
  f.enabled = false;
  const m = toManifest(f, FULL) as typeof FULL & { enabled?: boolean };
  assert.equal(m.enabled, false);
  assert.deepEqual(m.container.environment[0], { name: "LOG_LEVEL", value: "info" });
  assert.deepEqual(m.container.environment[3], { name: "EXTRA", value: "1" });
  assert.equal("command" in m.container, false);
  assert.equal("storage" in m.container, false);
  assert.deepEqual(m.roomservice.resources, { cpus: 1 });
  assert.equal("probes" in m.roomservice, false);
  assert.deepEqual(m.roomservice.restart, { policy: "always" }, "fields without a form control survive");
  assert.deepEqual(m.ports[0]!.endpoints, FULL.ports[0]!.endpoints);
  assert.ok(validateManifestObject(m).ok);
  // Enabling again drops the flag.
  f.enabled = true;
  assert.equal("enabled" in toManifest(f, m), false);
});

test("a new form makes a minimal valid manifest; a stored service's record fields are stripped", () => {
  const f = emptyForm();
  f.name = "web";
  f.image = "example/web:1";
  f.ports = [{ num: "8080", type: "http", liveness: "/healthz" }];
  const m = toManifest(f);
  assert.deepEqual(m, { version: "v1", kind: "Service", metadata: { name: "web" }, container: { image: "example/web:1" }, ports: [{ num: 8080, type: "http", liveness: "/healthz" }] });
  assert.ok(validateManifestObject(m).ok);
  // What GET .../services/{id} answers: the manifest (version "v1" intact) plus the API's fields.
  const record = { ...m, id: "abc", revision: 3, room: "demo", created_at: "x", updated_at: "y" };
  assert.deepEqual(manifestOfRecord(record), m);
});
