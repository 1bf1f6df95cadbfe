import { test } from "node:test";
import assert from "node:assert/strict";
import { validateManifestObject } from "../src/index.ts";
import { accepted, errorAt } from "./fixtures.ts";

const base = (extra: Record<string, unknown> = {}, container: Record<string, unknown> = {}) => ({
  version: "v1", kind: "Service", metadata: { name: "web" }, container: { image: "a", ...container }, ...extra,
});

test("a service name must be a DNS label: the error gives the field, the rules and what was given", () => {
  const e = errorAt(validateManifestObject({ ...base(), metadata: { name: "Bad Name! ☃ /x" } }), "metadata.name");
  assert.equal(e.message, "is not a valid name");
  assert.match(e.expected, /lowercase letters, digits and "-".*at most 63 characters/);
  assert.equal(e.received, JSON.stringify("Bad Name! ☃ /x"));
  for (const bad of ["Web", "-web", "web-", "a_b", "a.b", "x".repeat(64), ""]) {
    errorAt(validateManifestObject({ ...base(), metadata: { name: bad } }), "metadata.name");
  }
  for (const good of ["web", "chat-agent", "a1", "9", "x".repeat(63)]) accepted(validateManifestObject({ ...base(), metadata: { name: good } }));
});

test("HTTP paths (liveness, endpoint paths, probe paths) must start with /", () => {
  const e = errorAt(validateManifestObject(base({ ports: [{ num: 9100, liveness: "healthz" }] })), "ports[0].liveness");
  assert.match(e.message, /must start with "\/" \(write "\/healthz"\)/);
  assert.match(e.expected, /starting with "\/"/);
  assert.equal(e.received, JSON.stringify("healthz"));
  errorAt(validateManifestObject(base({ ports: [{ num: 9100, endpoints: [{ path: "mcp", mcp: { label: "t" } }] }] })), "ports[0].endpoints[0].path");
  errorAt(validateManifestObject(base({ ports: [{ num: 9100, liveness: "/health z" }] })), "ports[0].liveness");
  errorAt(
    validateManifestObject(base({ ports: [{ num: 9100 }], roomservice: { probes: { readiness: { httpGet: { path: "ready" } } } } })),
    "roomservice.probes.readiness.httpGet.path",
  );
  accepted(validateManifestObject(base({ ports: [{ num: 9100, liveness: "/healthz", endpoints: [{ path: "/mcp", mcp: { label: "t" } }] }] })));
});

test("other names and paths are checked too: volume names, header names, service files, config mounts", () => {
  errorAt(validateManifestObject(base({}, { storage: { volumes: [{ name: "My Vol", path: "/v" }] } })), "container.storage.volumes[0].name");
  errorAt(validateManifestObject(base({}, { storage: { configs: [{ path: "var/run" }] } })), "container.storage.configs[0].path");
  errorAt(validateManifestObject(base({ files: [{ path: "../etc/passwd", text: "" }] })), "files[0].path");
  errorAt(validateManifestObject(base({ files: [{ path: "a//b", text: "" }] })), "files[0].path");
  errorAt(
    validateManifestObject(base({ ports: [{ num: 9100, endpoints: [{ path: "/mcp", mcp: { label: "t", headers: { "bad header": "v" } } }] }] })),
    `ports[0].endpoints[0].mcp.headers["bad header"]`,
  );
  errorAt(validateManifestObject(base({}, { environment: [{ name: "MY VAR", value: "1" }] })), "container.environment[0].name");
  accepted(validateManifestObject(base({ files: [{ path: "inbox/readme.txt", text: "hi" }] }, { storage: { volumes: [{ name: "cache", path: "/v" }] } })));
});
