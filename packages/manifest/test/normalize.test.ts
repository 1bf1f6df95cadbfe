import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeManifest, parseManifest } from "../src/index.ts";
import { FULL_YAML, MINIMAL_YAML, accepted, withExtra } from "./fixtures.ts";

test("a full manifest normalizes to argv, typed env, mounts and ms durations", () => {
  const n = normalizeManifest(accepted(parseManifest(FULL_YAML)).manifest);
  assert.equal(n.name, "research-tools");
  assert.deepEqual(n.command, ["python", "-m", "tools.server", "--port", "8000", "--name", "Research Tools"]);
  assert.equal(n.commandViaShell, false);
  assert.equal(n.workingDir, "/app");
  assert.deepEqual(n.environment[0], { name: "LOG_LEVEL", kind: "value", value: "debug" });
  assert.deepEqual(n.environment[1], {
    name: "MESHAGENT_TOKEN",
    kind: "token",
    identity: "research-tools",
    role: "agent",
    api: { messaging: {}, storage: { paths: [{ path: "/reports", read_only: false }] } },
  });
  assert.deepEqual(n.environment[2], { name: "SEARCH_API_KEY", kind: "secret", secretId: "search-api", key: undefined, asEnv: true, file: "/run/secrets/SEARCH_API_KEY" });
  // explicit /data mount: no implicit one added
  assert.deepEqual(n.storageMounts, [
    { path: "/data", subpath: undefined, readOnly: false, implicit: false },
    { path: "/reports", subpath: "reports", readOnly: true, implicit: false },
  ]);
  assert.equal(n.ports[0].liveness, "/health");
  assert.deepEqual(n.ports[0].livenessProbe?.action, { kind: "http", port: 8000, path: "/health", headers: [] });
  assert.equal(n.ports[0].livenessProbe?.startIntervalMs, 20);
  assert.equal(n.ports[0].endpoints[0].mcp?.label, "research");
  assert.deepEqual(n.ports[0].endpoints[0].mcp?.allowedTools, [{ toolNames: ["search", "summarize"], readOnly: undefined }]);
  assert.deepEqual(n.restart, { policy: "on-failure", initialBackoffMs: 1000, maxBackoffMs: 60000, resetAfterMs: 60000 });
  assert.deepEqual(n.stop, { signal: "SIGTERM", gracePeriodMs: 10000 });
  assert.deepEqual(n.resources, { memoryBytes: undefined, nanoCpus: undefined, pids: undefined });
  assert.equal(n.writableRootFs, false);
  assert.equal(n.enabled, true);
});

test("the agent template adds room storage at /data; template none does not", () => {
  const agent = normalizeManifest(accepted(parseManifest(MINIMAL_YAML)).manifest);
  assert.deepEqual(agent.storageMounts, [{ path: "/data", subpath: undefined, readOnly: false, implicit: true }]);
  assert.equal(agent.command, undefined);
  const none = normalizeManifest(accepted(parseManifest(withExtra("  template: none\n"))).manifest);
  assert.deepEqual(none.storageMounts, []);
});

test("roomservice settings become bytes, nanoCPUs, ms and resolved probe ports", () => {
  const yaml = withExtra(`  environment:
    - { name: DB_PASSWORD, secret: { id: db, key: password } }
    - { name: TOKEN_FILE_ONLY, secret: { id: tok } }
ports: [{ num: 9000, type: tcp }, { num: 8000 }]
roomservice:
  probes:
    startup: { tcpSocket: {}, periodSeconds: 2, startIntervalSeconds: 0.05 }
    readiness: { httpGet: { path: /ready } }
    liveness: { exec: { command: [node, health.js] }, timeoutSeconds: 2.5 }
  restart: { policy: never }
  stop: { signal: SIGQUIT, gracePeriodSeconds: 0.5 }
  resources: { memory: 256Mi, cpus: "1500m", pids: 128 }
  secrets: { env: true, fileOnly: [TOKEN_FILE_ONLY] }
`);
  const n = normalizeManifest(accepted(parseManifest(yaml)).manifest);
  assert.deepEqual(n.resources, { memoryBytes: 268435456, nanoCpus: 1_500_000_000, pids: 128 });
  assert.deepEqual(n.probes.startup?.action, { kind: "tcp", port: 9000 }); // first port of any type
  assert.equal(n.probes.startup?.periodMs, 2000);
  assert.equal(n.probes.startup?.startIntervalMs, 50);
  assert.deepEqual(n.probes.readiness?.action, { kind: "http", port: 8000, path: "/ready", headers: [] }); // first http port
  assert.deepEqual(n.probes.liveness?.action, { kind: "exec", command: ["node", "health.js"] });
  assert.equal(n.probes.liveness?.timeoutMs, 2500);
  assert.equal(n.restart.policy, "never");
  assert.deepEqual(n.stop, { signal: "SIGQUIT", gracePeriodMs: 500 });
  const [pw, tok] = n.environment;
  assert.deepEqual(pw, { name: "DB_PASSWORD", kind: "secret", secretId: "db", key: "password", asEnv: true, file: "/run/secrets/DB_PASSWORD" });
  assert.equal(tok.kind === "secret" && tok.asEnv, false);
});

test("secrets.env: false delivers every secret as a file only", () => {
  const n = normalizeManifest(accepted(parseManifest(withExtra("  environment: [{ name: K, secret: { id: k } }]\nroomservice: { secrets: { env: false } }\n"))).manifest);
  assert.equal(n.environment[0].kind === "secret" && n.environment[0].asEnv, false);
});

test("token roles default to agent and api grant aliases fold into dataset", () => {
  const n = normalizeManifest(accepted(parseManifest(withExtra("  environment: [{ name: T, token: { identity: bot, api: { database: {}, storage: null } } }]\n"))).manifest);
  assert.deepEqual(n.environment[0], { name: "T", kind: "token", identity: "bot", role: "agent", api: { dataset: {} } });
});
