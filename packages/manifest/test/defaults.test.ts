import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest } from "../src/index.ts";
import { FULL_YAML, MINIMAL_YAML, accepted, withExtra } from "./fixtures.ts";

test("MeshAgent defaults are applied in the parsed output", () => {
  const { manifest: m } = accepted(parseManifest(FULL_YAML));
  assert.equal(m.enabled, true);
  assert.equal(m.container.template, "agent");
  assert.equal(m.container.storage?.room?.[0].read_only, false);
  assert.deepEqual(m.ports[1].endpoints, []);
  const min = accepted(parseManifest(MINIMAL_YAML)).manifest;
  assert.deepEqual(min.ports, []);
});

test("the roomservice section gets every default when absent", () => {
  const { manifest: m } = accepted(parseManifest(MINIMAL_YAML));
  assert.deepEqual(m.roomservice, {
    probes: {},
    restart: { policy: "on-failure", initialBackoffSeconds: 1, maxBackoffSeconds: 60, resetAfterSeconds: 60 },
    stop: { signal: "SIGTERM", gracePeriodSeconds: 10 },
    resources: {},
    secrets: { env: true, fileOnly: [] },
  });
});

test("a probe gets Kubernetes defaults plus the fast start interval", () => {
  const { manifest: m } = accepted(parseManifest(withExtra("ports: [{ num: 8000 }]\nroomservice:\n  probes:\n    readiness:\n      httpGet: { path: /ready }\n")));
  assert.deepEqual(m.roomservice.probes.readiness, {
    httpGet: { path: "/ready" },
    initialDelaySeconds: 0,
    periodSeconds: 10,
    timeoutSeconds: 1,
    failureThreshold: 3,
    successThreshold: 1,
    startIntervalSeconds: 0.02,
  });
});

test("given values override defaults; the stop signal is normalized", () => {
  const { manifest: m } = accepted(parseManifest(withExtra("roomservice:\n  restart: { policy: always, maxBackoffSeconds: 5 }\n  stop: { signal: int, gracePeriodSeconds: 3 }\n")));
  assert.equal(m.roomservice.restart.policy, "always");
  assert.equal(m.roomservice.restart.maxBackoffSeconds, 5);
  assert.equal(m.roomservice.restart.initialBackoffSeconds, 1);
  assert.deepEqual(m.roomservice.stop, { signal: "SIGINT", gracePeriodSeconds: 3 });
});
