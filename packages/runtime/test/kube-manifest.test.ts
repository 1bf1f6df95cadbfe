/**
 * The Pod and Secret manifests the kubernetes runtime produces from launch specs (a pure
 * function): one Pod per session with every service a container, the gateway sidecar,
 * secrets only in Secrets (per service), probes in Kubernetes terms, labels for reaping.
 * The same manifests run on podman in conformance-podman.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  buildPodManifests, dnsLabel, GATEWAY_CONTAINER, KUBE_LABEL, kubeProbe, LAUNCHER_CONTAINER, LAUNCHER_VOLUME, labelValue, podName, podRestartPolicy, sessionPrefix, ownerPrefix,
  type PodPlan, type ServiceLaunchSpec,
} from "../src/index.ts";
import { spec, tcpProbe } from "./helpers.ts";

function plan(specs: ServiceLaunchSpec[], over: Partial<PodPlan> = {}): PodPlan {
  return {
    namespace: "rooms", ownerId: "rs-owner1", room: "Demo.Room", sessionId: "0b6f0c1e-5d0a-4c43-9a57-2f7a1c5e9b10", generation: 1, specs,
    gateway: { image: "registry.example/roomservice/pod-gateway:1", target: { kind: "tcp", host: "10.0.0.5", port: 7443 }, key: "k3y" },
    ...over,
  };
}

test("one Pod per session: every service a container, plus the gateway; labels and annotations for reaping and lookup", () => {
  const m = buildPodManifests(plan([spec("web", "http.js", { env: { PORT: "9100" } }), spec("Agent_1", "client.js")]));
  const pod = m.pod;
  assert.equal(pod.kind, "Pod");
  assert.equal(pod.metadata?.name, podName("rs-owner1", "Demo.Room", "0b6f0c1e-5d0a-4c43-9a57-2f7a1c5e9b10", 1));
  assert.ok(pod.metadata!.name!.startsWith(sessionPrefix("rs-owner1", "Demo.Room", "0b6f0c1e-5d0a-4c43-9a57-2f7a1c5e9b10")));
  assert.ok(pod.metadata!.name!.startsWith(ownerPrefix("rs-owner1")));
  assert.match(pod.metadata!.name!, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.equal(pod.metadata?.namespace, "rooms");
  assert.deepEqual(pod.metadata?.labels, {
    [KUBE_LABEL.owner]: "rs-owner1", [KUBE_LABEL.room]: "Demo.Room", [KUBE_LABEL.session]: "0b6f0c1e-5d0a-4c43-9a57-2f7a1c5e9b10",
    [KUBE_LABEL.role]: "room", [KUBE_LABEL.generation]: "1",
  });
  const names = pod.spec!.containers.map((c) => c.name);
  // Sorted by service id; "Agent_1" is not an RFC 1123 label, so it is rewritten and hashed.
  assert.equal(names.length, 3);
  assert.match(names[0]!, /^agent-1-[0-9a-f]{8}$/);
  assert.equal(names[1], "web");
  assert.equal(names[2], GATEWAY_CONTAINER);
  assert.deepEqual(m.containers, { [names[0]!]: "Agent_1", web: "web" });
  assert.deepEqual(JSON.parse(pod.metadata!.annotations!["roomservice.dev/services"]!), m.containers);
  const web = pod.spec!.containers[1]!;
  assert.deepEqual(web.args, ["/usr/local/bin/node", "/app/http.js"], "args, not command: the image's ENTRYPOINT stays");
  assert.equal(web.command, undefined);
  assert.deepEqual(web.env, [{ name: "PORT", value: "9100" }]);
  assert.deepEqual(web.resources, { limits: { memory: String(256 * 1024 * 1024) } });
  assert.deepEqual(web.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  assert.equal(pod.spec!.automountServiceAccountToken, false);
  assert.equal(pod.spec!.restartPolicy, "Never");
  assert.equal(pod.spec!.terminationGracePeriodSeconds, 5);
});

test("the gateway dials the node (tcp or a unix socket in a hostPath) and reads its key from its own Secret", () => {
  const m = buildPodManifests(plan([spec("web", "http.js")]));
  const gw = m.pod.spec!.containers.find((c) => c.name === GATEWAY_CONTAINER)!;
  assert.equal(gw.image, "registry.example/roomservice/pod-gateway:1");
  assert.deepEqual(gw.env, [{ name: "RS_GATEWAY_NODE", value: "tcp://10.0.0.5:7443" }, { name: "RS_GATEWAY_KEY_FILE", value: "/run/roomservice-gateway/key" }]);
  assert.deepEqual(gw.readinessProbe?.tcpSocket, { port: 8078 });
  const keySecret = m.secrets.find((s) => s.metadata?.labels?.[KUBE_LABEL.role] === "gateway")!;
  assert.deepEqual(keySecret.stringData, { key: "k3y" });
  assert.ok(!JSON.stringify(m.pod).includes("k3y"), "the key is never in the Pod spec");

  const u = buildPodManifests(plan([spec("web", "http.js")], { gateway: { image: "gw", target: { kind: "unix", hostDir: "/run/rs/o1", socketName: "gw-1.sock" }, key: "k" } }));
  const ugw = u.pod.spec!.containers.find((c) => c.name === GATEWAY_CONTAINER)!;
  assert.equal(ugw.env![0]!.value, "unix:///run/roomservice-node/gw-1.sock");
  assert.deepEqual(u.pod.spec!.volumes!.find((v) => v.name === "gateway-socket")?.hostPath, { path: "/run/rs/o1", type: "Directory" });
});

test("secrets live only in per-service Secrets, mounted read-only at /run/secrets (0400); secret env is a reference", () => {
  const value = "sk-live-0123456789";
  const m = buildPodManifests(plan([
    spec("crm", "secret.js", { secretFiles: { API_KEY: value, OTHER: "second-value" }, secretEnv: ["API_KEY"] }),
    spec("web", "http.js"),
  ]));
  assert.ok(!JSON.stringify(m.pod).includes(value), "no secret value in the Pod");
  const crmSecret = m.secrets.find((s) => s.metadata?.labels?.[KUBE_LABEL.role] === "service")!;
  assert.deepEqual(crmSecret.stringData, { API_KEY: value, OTHER: "second-value" });
  assert.equal(m.secrets.filter((s) => s.metadata?.labels?.[KUBE_LABEL.role] === "service").length, 1, "web has no secrets, so no Secret");
  for (const s of m.secrets) assert.equal(s.metadata?.labels?.[KUBE_LABEL.owner], "rs-owner1");
  const crm = m.pod.spec!.containers.find((c) => c.name === "crm")!;
  const mount = crm.volumeMounts!.find((v) => v.mountPath === "/run/secrets")!;
  assert.equal(mount.readOnly, true);
  const vol = m.pod.spec!.volumes!.find((v) => v.name === mount.name)!;
  assert.deepEqual(vol.secret, { secretName: crmSecret.metadata!.name, defaultMode: 0o400, optional: false });
  assert.deepEqual(crm.env!.find((e) => e.name === "API_KEY"), { name: "API_KEY", valueFrom: { secretKeyRef: { name: crmSecret.metadata!.name, key: "API_KEY" } } });
  const web = m.pod.spec!.containers.find((c) => c.name === "web")!;
  assert.ok(!web.volumeMounts!.some((v) => v.mountPath === "/run/secrets"), "a neighbour mounts no one else's secrets");

  assert.throws(() => buildPodManifests(plan([spec("x", "secret.js", { secretFiles: { "bad name": "v" } })])), /service "x": secret "bad name" is not a valid Kubernetes Secret key/);
});

test("session values and secret env: Secret keys exported by the launcher (an init container installs it); nothing of them in the Pod", () => {
  const token = "eyJ.session-token.sig";
  const sid = "0b6f0c1e-session";
  const svc = spec("agent", "client.js", {
    command: undefined, env: { MESHAGENT_TOKEN: token, MESHAGENT_SESSION_ID: sid, MESHAGENT_ROOM: "Demo.Room" },
    sessionEnv: ["MESHAGENT_TOKEN", "MESHAGENT_SESSION_ID"], secretFiles: { API_KEY: "sk-1234567890" }, secretEnv: ["API_KEY"],
  });
  const m = buildPodManifests(plan([svc, spec("plain", "http.js")], { imageConfigs: { "roomservice-test/app:1": { entrypoint: ["/entry"], cmd: ["/usr/local/bin/node", "/app/client.js"] } } }));
  const podText = JSON.stringify(m.pod);
  for (const v of [token, sid, "sk-1234567890"]) assert.ok(!podText.includes(v), `${v} is not in the Pod spec`);
  const agent = m.pod.spec!.containers.find((c) => c.name === "agent")!;
  assert.deepEqual(agent.command, ["/run/roomservice/envexec"], "the launcher is the command");
  assert.deepEqual(agent.args, ["/entry", "/usr/local/bin/node", "/app/client.js"], "the image's ENTRYPOINT + CMD are its arguments");
  assert.deepEqual(agent.env, [
    { name: "MESHAGENT_ROOM", value: "Demo.Room" },
    { name: "ROOMSERVICE_SECRET_ENV", value: "MESHAGENT_SESSION_ID,MESHAGENT_TOKEN,API_KEY" },
    { name: "ROOMSERVICE_INIT", value: "1" },
  ]);
  const secret = m.secrets.find((s) => s.metadata?.name === `${m.pod.metadata!.name}-agent`)!;
  assert.deepEqual(secret.stringData, { API_KEY: "sk-1234567890", MESHAGENT_SESSION_ID: sid, MESHAGENT_TOKEN: token });
  assert.deepEqual(agent.volumeMounts!.map((v) => [v.mountPath, v.readOnly]), [["/run/secrets", true], ["/run/roomservice", true]]);
  // A service with a command of its own keeps the image's ENTRYPOINT in front of it.
  const plain = m.pod.spec!.containers.find((c) => c.name === "plain")!;
  assert.deepEqual(plain.args, ["/entry", "/usr/local/bin/node", "/app/http.js"]);
  assert.deepEqual(plain.env, [{ name: "ROOMSERVICE_INIT", value: "1" }], "every service runs under the launcher (stop signal to its process group)");
  const init = m.pod.spec!.initContainers!;
  assert.equal(init.length, 1);
  assert.equal(init[0]!.name, LAUNCHER_CONTAINER);
  assert.equal(init[0]!.image, "registry.example/roomservice/pod-gateway:1", "the launcher comes from the gateway image");
  assert.deepEqual(init[0]!.command, ["/usr/local/bin/node", "/app/install-launcher.js", "/run/roomservice/envexec"]);
  assert.deepEqual(m.pod.spec!.volumes!.find((v) => v.name === LAUNCHER_VOLUME)?.emptyDir, { medium: "Memory", sizeLimit: "16Mi" });
  assert.throws(() => buildPodManifests(plan([spec(LAUNCHER_CONTAINER, "http.js")])), /already used in this Pod/);
  assert.throws(() => buildPodManifests(plan([spec("x", "http.js", { command: undefined })], { imageConfigs: { "roomservice-test/app:1": { entrypoint: [], cmd: [] } } })), /service "x": image roomservice-test\/app:1 has no entrypoint or command/);

  // Image config unknown (a cluster's registry): the command runs directly; the values are secretKeyRef env.
  const k = buildPodManifests(plan([svc]));
  assert.ok(!JSON.stringify(k.pod).includes(token));
  const ka = k.pod.spec!.containers.find((c) => c.name === "agent")!;
  assert.equal(ka.command, undefined);
  assert.equal(k.pod.spec!.initContainers, undefined);
  const ref = (key: string) => ({ name: key, valueFrom: { secretKeyRef: { name: `${k.pod.metadata!.name}-agent`, key } } });
  assert.deepEqual(ka.env, [{ name: "MESHAGENT_ROOM", value: "Demo.Room" }, ref("MESHAGENT_SESSION_ID"), ref("MESHAGENT_TOKEN"), ref("API_KEY")]);
});

test("probes map to Kubernetes probes, durations rounded up to whole seconds", () => {
  const http = { action: { kind: "http" as const, port: 9100, path: "/healthz", headers: [{ name: "X-A", value: "1" }] }, initialDelayMs: 1500, periodMs: 10_000, startIntervalMs: 100, timeoutMs: 300, failureThreshold: 3, successThreshold: 2 };
  assert.deepEqual(kubeProbe(http, "readiness"), { initialDelaySeconds: 2, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 2, httpGet: { path: "/healthz", port: 9100, httpHeaders: [{ name: "X-A", value: "1" }] } });
  assert.equal(kubeProbe(http, "liveness").successThreshold, 1, "Kubernetes requires 1 for liveness");
  assert.deepEqual(kubeProbe(tcpProbe(9200), "startup").tcpSocket, { port: 9200 });
  assert.deepEqual(kubeProbe({ ...tcpProbe(1), action: { kind: "exec", command: ["/bin/check", "-q"] } }, "liveness").exec, { command: ["/bin/check", "-q"] });
  const m = buildPodManifests(plan([spec("web", "http.js", { probes: { readiness: tcpProbe(9100), liveness: http, startup: tcpProbe(9100) } })]));
  const web = m.pod.spec!.containers[0]!;
  assert.ok(web.readinessProbe?.tcpSocket && web.livenessProbe?.httpGet && web.startupProbe?.tcpSocket);
});

test("restart policy, grace period, mounts and names", () => {
  const r = (p: "always" | "on-failure" | "never") => spec(p, "http.js", { restart: { policy: p, initialBackoffMs: 1, maxBackoffMs: 1, resetAfterMs: 1 } });
  assert.equal(podRestartPolicy([r("never"), r("on-failure")]), "OnFailure");
  assert.equal(podRestartPolicy([r("never"), r("always")]), "Always");
  assert.equal(podRestartPolicy([r("never")]), "Never");
  const m = buildPodManifests(plan([
    spec("a", "http.js", { stop: { signal: "SIGTERM", gracePeriodMs: 2500 }, mounts: [{ hostPath: "/srv/rooms/demo/storage", containerPath: "/data", readOnly: false }], writableRootFs: true, resources: { nanoCpus: 500_000_000 } }),
  ]));
  assert.equal(m.pod.spec!.terminationGracePeriodSeconds, 3);
  const a = m.pod.spec!.containers[0]!;
  assert.deepEqual(a.volumeMounts, [{ name: "storage-0", mountPath: "/data", readOnly: false }]);
  assert.deepEqual(m.pod.spec!.volumes![0], { name: "storage-0", hostPath: { path: "/srv/rooms/demo/storage", type: "Directory" } });
  assert.deepEqual(a.resources, { limits: { cpu: "500m" } });
  assert.equal(a.securityContext?.readOnlyRootFilesystem, false);
  assert.equal(labelValue("a".repeat(70)).length <= 63, true);
  assert.match(labelValue("room with spaces"), /^room-with-spaces-[0-9a-f]{10}$/);
  assert.equal(dnsLabel("web"), "web");
  assert.throws(() => buildPodManifests(plan([spec(GATEWAY_CONTAINER, "http.js")])), /already used in this Pod/);
  // Deterministic: the same plan gives the same manifests.
  assert.deepEqual(buildPodManifests(plan([spec("b", "x.js"), spec("a", "x.js")])), buildPodManifests(plan([spec("a", "x.js"), spec("b", "x.js")])));
});
