import { test } from "node:test";
import assert from "node:assert/strict";
import { validateManifestObject } from "../src/index.ts";
import { errorAt } from "./fixtures.ts";

const base = { version: "v1", kind: "Service", metadata: { name: "x" } };

test("a probe without a port and no port to default to is refused", () => {
  const r = validateManifestObject({ ...base, container: { image: "a" }, roomservice: { probes: { readiness: { httpGet: { path: "/" } } } } });
  const e = errorAt(r, "roomservice.probes.readiness.httpGet.port");
  assert.match(e.message, /no http port in ports/);
  assert.equal(e.received, "nothing");
});

test("a probe needs exactly one check", () => {
  const r = validateManifestObject({ ...base, container: { image: "a" }, roomservice: { probes: { liveness: { periodSeconds: 5 } } } });
  const e = errorAt(r, "roomservice.probes.liveness");
  assert.equal(e.expected, "exactly one of httpGet, tcpSocket or exec");
  assert.equal(e.received, "none of them");
});

test("liveness and startup probes must have successThreshold 1 (as in Kubernetes)", () => {
  const r = validateManifestObject({ ...base, container: { image: "a" }, ports: [{ num: 80 }], roomservice: { probes: { liveness: { httpGet: {}, successThreshold: 2 } } } });
  assert.equal(errorAt(r, "roomservice.probes.liveness.successThreshold").expected, "1");
});

test("secrets.fileOnly must name secret variables", () => {
  const r = validateManifestObject({ ...base, container: { image: "a", environment: [{ name: "K", secret: { id: "k" } }] }, roomservice: { secrets: { fileOnly: ["KK"] } } });
  const e = errorAt(r, "roomservice.secrets.fileOnly[0]");
  assert.equal(e.expected, "one of K");
  assert.equal(e.received, '"KK"');
});

test("maxBackoffSeconds below initialBackoffSeconds is refused", () => {
  const r = validateManifestObject({ ...base, container: { image: "a" }, roomservice: { restart: { initialBackoffSeconds: 10, maxBackoffSeconds: 5 } } });
  assert.equal(errorAt(r, "roomservice.restart.maxBackoffSeconds").expected, "at least initialBackoffSeconds (10)");
});

test("mounts that escape storage, hide /run/secrets or collide are refused", () => {
  const r = validateManifestObject({ ...base, container: { image: "a", storage: { room: [{ path: "/data", subpath: "../other-room" }, { path: "relative" }] } } });
  assert.match(errorAt(r, "container.storage.room[0].subpath").message, /\.\./);
  assert.equal(errorAt(r, "container.storage.room[1].path").message, "must be an absolute path inside the container");
  const r2 = validateManifestObject({ ...base, container: { image: "a", storage: { room: [{ path: "/run/secrets" }, { path: "/x" }], empty_dirs: [{ path: "/x/" }] } } });
  assert.match(errorAt(r2, "container.storage.room[0].path").message, /hide the secret files/);
  assert.equal(errorAt(r2, "container.storage.empty_dirs[0].path").message, "is already mounted by container.storage.room[1]");
});
