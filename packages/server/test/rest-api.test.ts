import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, sdk } from "./helpers.ts";
import { mintParticipantToken } from "../src/index.ts";

const manifest = (name: string, image = "example/http-echo:latest") => ({
  version: "v1",
  kind: "Service",
  metadata: { name, description: "test service" },
  container: { image, environment: [{ name: "PORT", value: "8080" }] },
  ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
});

async function adminClient(ts: Awaited<ReturnType<typeof startTestServer>>, via: "jwt" | "apikey") {
  const token =
    via === "apikey"
      ? (await ts.server.apiKeys.create("default", "test", Date.now())).key
      : await mintParticipantToken(ts.secret, { room: "*", identity: "admin", role: "user", api: { admin: {} } as never, ttlSeconds: 600 });
  return new sdk.Meshagent({ baseUrl: ts.url, token });
}

test("the SDK's Meshagent REST client creates, lists, updates and deletes project and room services", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const api = await adminClient(ts, "apikey");

  const id = await api.createService("default", manifest("web"));
  assert.match(id, /^[0-9a-f-]{36}$/);
  const roomId = await api.createRoomService("default", "lobby", manifest("bot"));

  const listed = await api.listServices("default");
  assert.deepEqual(listed.map((s: any) => s.metadata.name), ["web"]);
  assert.equal(listed[0].id, id);
  assert.deepEqual((await api.listRoomServices("default", "lobby")).map((s: any) => s.id), [roomId]);
  assert.deepEqual(await api.listRoomServices("default", "other"), []);

  const got = await api.getService("default", id);
  assert.equal(got.container.image, "example/http-echo:latest");
  // The manifest's own version stays intact; the store's revision has its own name.
  assert.equal(got.version, "v1");
  assert.equal(got.revision, 1);

  await api.updateService("default", id, { ...manifest("web", "example/http-echo:v2"), id });
  const updated = await api.getService("default", id);
  assert.equal(updated.container.image, "example/http-echo:v2");
  assert.equal(updated.version, "v1");
  assert.equal(updated.revision, 2);

  await api.updateRoomService("default", "lobby", roomId, { ...manifest("bot", "example/bot:2"), id: roomId });
  assert.equal((await api.getRoomService("default", "lobby", roomId)).container.image, "example/bot:2");

  await api.deleteRoomService("default", "lobby", roomId);
  assert.deepEqual(await api.listRoomServices("default", "lobby"), []);
  await api.deleteService("default", id);
  assert.deepEqual(await api.listServices("default"), []);
  await assert.rejects(api.getService("default", id), /Status code: 404/);
});

test("bad manifests are rejected with field paths; wrong project, missing auth and non-admin tokens are refused", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const api = await adminClient(ts, "jwt");

  const bad = { ...manifest("bad"), ports: [{ num: 8078, type: "http" }] };
  await assert.rejects(api.createService("default", bad), (err: Error) => {
    assert.match(err.message, /Status code: 400/);
    assert.match(err.message, /ports\[0\]\.num/);
    assert.match(err.message, /8078/);
    return true;
  });
  const noImage = { ...manifest("noimg"), container: {} };
  await assert.rejects(api.createService("default", noImage), /container\.image/);
  const typo = { ...manifest("typo"), container: { imag: "x", image: "y" } };
  await assert.rejects(api.createService("default", typo), /container\.imag/);
  await api.createService("default", manifest("dup"));
  await assert.rejects(api.createService("default", manifest("dup")), /Status code: 409/);
  await assert.rejects(api.listServices("other-project"), /Status code: 404.*this server hosts project/);

  const anon = new sdk.Meshagent({ baseUrl: ts.url, token: "" });
  await assert.rejects(anon.listServices("default"), /Status code: 401/);
  const userToken = await ts.token("lobby", "alice");
  await assert.rejects(new sdk.Meshagent({ baseUrl: ts.url, token: userToken }).listServices("default"), /Status code: 403.*admin/);
  await assert.rejects(new sdk.Meshagent({ baseUrl: ts.url, token: "rsk_00000000000000000000000000000000_nope" }).listServices("default"), /Status code: 401/);
});

test("secrets are created, listed, updated and deleted through the SDK, and values never come back", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const api = await adminClient(ts, "apikey");
  const value = "sk-live-" + "x".repeat(24);
  const id = await api.createProjectSecret({ projectId: "default", name: "third-party-api-key", type: "opaque", data: new TextEncoder().encode(value) });
  const list = await api.listProjectSecrets("default");
  assert.deepEqual(list.map((s: any) => [s.id, s.name]), [[id, "third-party-api-key"]]);
  const one = await api.getProjectSecret("default", id);
  assert.equal(one.name, "third-party-api-key");
  assert.equal(one.dataBase64, "", "the value is write-only");
  await api.updateProjectSecret({ projectId: "default", secretId: id, name: "third-party-api-key", type: "opaque", data: new TextEncoder().encode("new-value-123") });
  assert.equal((await ts.server.secrets.resolveValue("default", "any-room", "third-party-api-key"))!.toString(), "new-value-123");

  const roomSecret = await api.createRoomSecret({ projectId: "default", roomName: "lobby", name: "third-party-api-key", type: "opaque", data: new TextEncoder().encode("room-value") });
  assert.equal((await ts.server.secrets.resolveValue("default", "lobby", "third-party-api-key"))!.toString(), "room-value", "a room secret shadows the project secret");
  assert.equal((await ts.server.secrets.resolveValue("default", "elsewhere", "third-party-api-key"))!.toString(), "new-value-123");
  const rawList = await (await fetch(`${ts.url}/accounts/projects/default/rooms/lobby/secrets`, { headers: { authorization: `Bearer ${api.token}` } })).text();
  assert.ok(!rawList.includes("room-value"));
  await api.deleteRoomSecret({ projectId: "default", roomName: "lobby", secretId: roomSecret });
  await api.deleteProjectSecret("default", id);
  assert.deepEqual(await api.listProjectSecrets("default"), []);
});

test("rooms/{room}/connect returns a token and URL the SDK connects with", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const api = await adminClient(ts, "apikey");
  const info = await api.connectRoom("default", "lobby");
  assert.equal(info.roomName, "lobby");
  assert.equal(info.projectId, "default");
  assert.match(info.roomUrl, /^ws:\/\/127\.0\.0\.1:\d+\/rooms\/lobby$/);
  const client = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: info.roomUrl, token: info.jwt }), reconnectTimeout: 0 });
  await client.start();
  assert.equal(client.roomName, "lobby");
  client.dispose();
});

test("a service read with GET and written back unchanged with PUT is accepted (the API's own fields are not manifest fields)", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const key = (await ts.server.apiKeys.create("default", "rt", Date.now())).key;
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${ts.url}/accounts/projects/default${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  for (const scope of ["", "/rooms/lobby"]) {
    const created = (await (await call("POST", `${scope}/services`, manifest("rt"))).json()) as { id: string };
    const got = (await (await call("GET", `${scope}/services/${created.id}`)).json()) as Record<string, unknown>;
    assert.deepEqual(["id", "revision", "room", "created_at", "updated_at"].filter((k) => !(k in got)), [], "the API adds its fields");
    const put = await call("PUT", `${scope}/services/${created.id}`, { ...got, enabled: false });
    assert.equal(put.status, 200, await put.text());
    const again = (await (await call("GET", `${scope}/services/${created.id}`)).json()) as Record<string, unknown>;
    assert.deepEqual([again.version, again.revision, again.enabled], ["v1", 2, false]);
  }
});
