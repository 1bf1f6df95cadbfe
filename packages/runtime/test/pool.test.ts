/**
 * The pool of ready room namespaces: a session takes a namespace whose pause container,
 * probe helper and Room API listener already exist; the pool refills; reaping spares it;
 * close() removes it.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { buildBaseImage, buildImage, createDockerRuntime, LABEL, type DockerRuntime } from "../src/index.ts";
import { APP_IMAGE, collectLogs, resultLine, spec, testLogger, waitFor } from "./helpers.ts";
import { fileURLToPath } from "node:url";

const ownerId = `test-pool-${randomBytes(4).toString("hex")}`;
let rt: DockerRuntime;

async function labelled(): Promise<{ Id: string; Labels: Record<string, string> }[]> {
  return rt.docker.json({ method: "GET", path: "/containers/json", query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.owner}=${ownerId}`] }) } });
}

before(async () => {
  rt = await createDockerRuntime({ ownerId, logger: testLogger({ owner: ownerId }), poolSize: 2 });
  await buildBaseImage(rt.docker);
  await buildImage(rt.docker, fileURLToPath(new URL("./fixtures/app", import.meta.url)), APP_IMAGE);
});
after(async () => {
  await rt.reapOrphans();
  await rt.close();
});

test("a session takes a pooled namespace with its Room API listener ready; the pool refills and survives reaping; close removes it", async () => {
  rt.prewarm();
  await waitFor("pool filled", () => rt.pooled === 2);
  const reaped = await rt.reapOrphans();
  assert.equal(reaped.containers, 0, "pooled namespaces are not orphans");
  assert.equal(rt.pooled, 2);

  const sb = await rt.createRoomSandbox({ room: "pooled-room", sessionId: "s-pool" });
  const listener = await rt.openRoomApiListener(sb, 8078);
  const app = http.createServer((req, res) => res.end(`pooled api saw ${req.url}`));
  listener.on("connection", (sock) => app.emit("connection", sock));
  try {
    const svc = sb.startService(spec("caller", "client.js", { env: { HTTP_PORT: "8078", HTTP_PATH: "/hi" } }));
    const r = await resultLine(collectLogs(svc));
    assert.deepEqual(r.http, { ok: true, body: "pooled api saw /hi" });
    await waitFor("pool refilled", () => rt.pooled === 2);
  } finally {
    listener.close();
    app.close();
    await sb.stop();
  }
  const left = await labelled();
  assert.equal(left.length, 2, "only the two pooled pause containers remain");
  await rt.close();
  assert.deepEqual(await (async () => {
    const again = await createDockerRuntime({ ownerId, logger: testLogger() });
    const l = await again.docker.json<unknown[]>({ method: "GET", path: "/containers/json", query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.owner}=${ownerId}`] }) } });
    rt = again;
    return l;
  })(), [], "close() removed the pool");
});
