/**
 * openListenerInNetns / openRoomApiListener: a server in this process listens on
 * 127.0.0.1:8078 inside the room, and services reach it there.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { collectLogs, resultLine, setup, spec, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

test("an HTTP server in the test process answers services at 127.0.0.1:8078", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "api-room", sessionId: "s-api" });
  const app = http.createServer((req, res) => res.end(`room api saw ${req.url}`));
  try {
    const t0 = Date.now();
    const listener = await env.runtime.openRoomApiListener(sb, 8078);
    if (process.env.RS_TEST_TIMINGS === "1") console.log(`openListenerInNetns: ${Date.now() - t0} ms`);
    assert.deepEqual(listener.address(), { address: "127.0.0.1", family: "IPv4", port: 8078 });
    listener.on("connection", (sock) => app.emit("connection", sock));
    try {
      const svc = sb.startService(spec("caller", "client.js", { env: { HTTP_PORT: "8078", HTTP_PATH: "/hello" } }));
      const r = await resultLine(collectLogs(svc));
      assert.deepEqual(r.http, { ok: true, body: "room api saw /hello" });
    } finally {
      await new Promise((r) => listener.close(r));
    }
  } finally {
    app.close();
    await sb.stop();
  }
});

test("listening on a port already taken in the room fails with a clear error", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "api-room", sessionId: "s-api-2" });
  try {
    const first = await env.runtime.openRoomApiListener(sb, 8078);
    await assert.rejects(env.runtime.openRoomApiListener(sb, 8078), /EADDRINUSE/);
    await new Promise((r) => first.close(r));
  } finally {
    await sb.stop();
  }
});
