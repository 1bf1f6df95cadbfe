/**
 * A room's services share one loopback (the pause container's namespace) and become ready
 * through their probes; two rooms cannot reach each other.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { collectLogs, resultLine, setup, spec, tcpProbe, waitFor, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

test("three services in one room become ready and reach each other over 127.0.0.1", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "net-room", sessionId: "s-net-1" });
  try {
    const t0 = Date.now();
    const web = sb.startService(spec("web", "http.js", {
      env: { PORT: "9100", NAME: "web" },
      ports: [{ num: 9100, type: "http", livenessPath: "/healthz" }],
    }));
    const tcp = sb.startService(spec("echo", "tcp.js", {
      env: { PORT: "9200" },
      ports: [{ num: 9200, type: "tcp" }],
      probes: { readiness: tcpProbe(9200) },
    }));
    const client = sb.startService(spec("client", "client.js", { env: { HTTP_PORT: "9100", TCP_PORT: "9200" } }));
    const logs = collectLogs(client);

    await waitFor("all services running", () => [web, tcp, client].every((h) => h.status().state === "running"));
    const readyMs = Date.now() - t0;
    if (process.env.RS_TEST_TIMINGS === "1") console.log(`3 services create→ready: ${readyMs} ms`);

    const ws = web.status();
    assert.equal(ws.ports[0].liveness_status, "ready");
    assert.equal(typeof ws.ports[0].last_checked_at, "number");
    assert.ok(ws.container_id);
    assert.deepEqual(tcp.status().ports, [{ num: 9200, liveness_status: "not_configured", last_checked_at: null, last_error: null }]);
    for (const h of [web, tcp, client]) {
      const reasons = h.status().events.map((e) => e.reason);
      assert.deepEqual(reasons.slice(0, 3), ["Created", "Started", "Ready"], `${h.serviceId}: ${reasons}`);
    }

    const r = await resultLine(logs);
    assert.deepEqual(r.http, { ok: true, body: "hello from web" });
    assert.deepEqual(r.tcp, { ok: true, body: "ping" });
  } finally {
    await sb.stop();
  }
});

test("two room sandboxes cannot reach each other", async () => {
  const a = await env.runtime.createRoomSandbox({ room: "room-a", sessionId: "s-a" });
  const b = await env.runtime.createRoomSandbox({ room: "room-b", sessionId: "s-b" });
  try {
    assert.notEqual(a.netnsPath, b.netnsPath);
    const server = a.startService(spec("server", "http.js", { env: { PORT: "9100" }, ports: [{ num: 9100, type: "http", livenessPath: "/healthz" }] }));
    await waitFor("room A's server ready", () => server.status().state === "running");
    // Same port, other room: nothing answers there.
    const probe = b.startService(spec("probe", "client.js", { env: { HTTP_PORT: "9100", TRIES: "3" } }));
    const logs = collectLogs(probe);
    const r = await resultLine(logs);
    assert.equal(r.http.ok, false);
    assert.equal(r.http.error, "ECONNREFUSED");
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
