/**
 * KubernetesPodApi's requests on the wire, against a small recording HTTP server that answers
 * as the Kubernetes API does (paths, query parameters, bodies, 404s, a streamed log). This
 * checks how we use @kubernetes/client-node 2.0.1 — it is not a cluster: the conformance suite
 * runs against a real one when KUBECONFIG is set (conformance-kubernetes.test.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { KubernetesPodApi } from "../src/kube/k8s-api.ts";
import { buildPodManifests } from "../src/index.ts";
import { spec } from "./helpers.ts";

interface Seen { method: string; path: string; query: Record<string, string>; body: any }
const seen: Seen[] = [];
let podExists = true;
let server: http.Server;
let api: KubernetesPodApi;

const podStatus = {
  apiVersion: "v1", kind: "Pod", metadata: { name: "p1", namespace: "rooms" },
  status: {
    phase: "Running",
    containerStatuses: [{
      name: "web", containerID: "containerd://abc", ready: true, restartCount: 2, image: "x", imageID: "y",
      state: { running: { startedAt: "2026-11-29T10:00:00Z" } },
      lastState: { terminated: { exitCode: 137, reason: "OOMKilled", finishedAt: "2026-11-29T09:59:58Z" } },
    }],
  },
};

before(async () => {
  server = http.createServer((req, res) => {
    const u = new URL(req.url!, "http://x");
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      seen.push({ method: req.method!, path: u.pathname, query: Object.fromEntries(u.searchParams), body: raw ? JSON.parse(raw) : null });
      const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      const notFound = () => json(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: "not found" });
      if (req.method === "POST") return json(201, JSON.parse(raw));
      if (u.pathname === "/api/v1/namespaces/rooms/pods/p1/log") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first line\n");
        setTimeout(() => res.end("second line\n"), 20);
        return;
      }
      if (u.pathname === "/api/v1/namespaces/rooms/pods/p1") {
        if (req.method === "DELETE") {
          podExists = false;
          return json(200, podStatus);
        }
        return podExists ? json(200, podStatus) : notFound();
      }
      if (u.pathname === "/api/v1/namespaces/rooms/events") {
        return json(200, { apiVersion: "v1", kind: "EventList", metadata: {}, items: [{
          metadata: { name: "e1" }, involvedObject: { kind: "Pod", name: "p1", fieldPath: "spec.containers{web}" },
          type: "Warning", reason: "Unhealthy", message: "Readiness probe failed", count: 4,
          firstTimestamp: "2026-11-29T10:00:01Z", lastTimestamp: "2026-11-29T10:00:09Z",
        }] });
      }
      if (u.pathname === "/api/v1/namespaces/rooms/pods") return json(200, { apiVersion: "v1", kind: "PodList", metadata: {}, items: [{ metadata: { name: "rs-a-g1" } }] });
      if (u.pathname === "/api/v1/namespaces/rooms/secrets") return json(200, { apiVersion: "v1", kind: "SecretList", metadata: {}, items: [{ metadata: { name: "rs-a-g1-web" } }] });
      if (u.pathname.startsWith("/api/v1/namespaces/rooms/secrets/")) return req.method === "DELETE" ? notFound() : notFound();
      notFound();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "fake", server: `http://127.0.0.1:${(server.address() as { port: number }).port}`, skipTLSVerify: true }],
    users: [{ name: "u", token: "t0ken" }],
    contexts: [{ name: "c", cluster: "fake", user: "u" }],
    currentContext: "c",
  });
  api = new KubernetesPodApi(kc);
});
after(() => {
  api.close();
  server.close();
});

test("create posts the Secrets, then the Pod, to the namespace", async () => {
  const m = buildPodManifests({
    namespace: "rooms", ownerId: "o", room: "r", sessionId: "s", generation: 1,
    specs: [spec("web", "http.js", { secretFiles: { K: "v4lue" } })],
    gateway: { image: "gw", target: { kind: "tcp", host: "10.0.0.1", port: 7443 }, key: "k" },
  });
  seen.length = 0;
  await api.create(m);
  assert.deepEqual(seen.map((s) => `${s.method} ${s.path}`), [
    "POST /api/v1/namespaces/rooms/secrets", "POST /api/v1/namespaces/rooms/secrets", "POST /api/v1/namespaces/rooms/pods",
  ]);
  assert.equal(seen[2]!.body.metadata.name, m.pod.metadata!.name);
  assert.deepEqual(seen[0]!.body.stringData, { K: "v4lue" });
});

test("read maps container statuses; events select the Pod and map the container; a gone Pod is null", async () => {
  podExists = true;
  const obs = await api.read("rooms", "p1");
  assert.deepEqual(obs, { phase: "Running", containers: [{
    name: "web", id: "containerd://abc", state: { kind: "running", startedAt: Date.parse("2026-11-29T10:00:00Z") }, ready: true, restartCount: 2,
    last: { exitCode: 137, reason: "OOMKilled", finishedAt: Date.parse("2026-11-29T09:59:58Z") },
  }] });
  seen.length = 0;
  const ev = await api.events("rooms", "p1");
  assert.equal(seen[0]!.query.fieldSelector, "involvedObject.kind=Pod,involvedObject.name=p1");
  assert.deepEqual(ev, [{ container: "web", type: "Warning", reason: "Unhealthy", message: "Readiness probe failed", count: 4, firstTimestamp: Date.parse("2026-11-29T10:00:01Z"), lastTimestamp: Date.parse("2026-11-29T10:00:09Z") }]);
});

test("logs are followed for one container; stop deletes with the grace period and waits until the Pod is gone", async () => {
  const chunks: string[] = [];
  seen.length = 0;
  await new Promise<void>((resolve) => {
    api.followLogs("rooms", "p1", "web", "containerd://abc", null, (_s, c) => chunks.push(Buffer.from(c).toString()), () => resolve());
  });
  assert.equal(chunks.join(""), "first line\nsecond line\n");
  assert.equal(seen[0]!.query.container, "web");
  assert.equal(seen[0]!.query.follow, "true");

  podExists = true;
  seen.length = 0;
  await api.stop("rooms", "p1", 7);
  assert.equal(seen[0]!.method, "DELETE");
  assert.equal(seen[0]!.query.gracePeriodSeconds, "7");
  assert.equal(seen.at(-1)!.method, "GET", "then read until 404");
  assert.equal(await api.read("rooms", "p1"), null);
  await api.deleteSecrets("rooms", ["missing"]); // 404 is not an error
});

test("listOwned selects Pods and Secrets by the owner label", async () => {
  seen.length = 0;
  const o = await api.listOwned("rooms", "rs-owner", "ignored-prefix");
  assert.deepEqual(o, { pods: ["rs-a-g1"], secrets: ["rs-a-g1-web"] });
  assert.deepEqual(seen.map((s) => s.query.labelSelector), ["roomservice.dev/owner=rs-owner", "roomservice.dev/owner=rs-owner"]);
});

test("kill deletes the Pod with grace period 0 (Kubernetes kills no single container); a gone Pod is no error", async () => {
  podExists = true;
  seen.length = 0;
  await api.kill("rooms", "p1", ["web"]);
  assert.deepEqual(seen.map((s) => [s.method, s.path, s.query.gracePeriodSeconds]), [["DELETE", "/api/v1/namespaces/rooms/pods/p1", "0"]]);
  await api.kill("rooms", "gone", ["web"]);
});

test("listOwned with a room selects by the owner and room labels (reapRoom)", async () => {
  seen.length = 0;
  await api.listOwned("rooms", "rs-owner", "ignored-prefix", "conf-moved");
  assert.deepEqual(seen.map((s) => s.query.labelSelector), ["roomservice.dev/owner=rs-owner,roomservice.dev/room=conf-moved", "roomservice.dev/owner=rs-owner,roomservice.dev/room=conf-moved"]);
});
