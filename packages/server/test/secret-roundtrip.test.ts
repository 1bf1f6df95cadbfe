import { test } from "node:test";
import assert from "node:assert/strict";
import { sdk, startTestServer } from "./helpers.ts";

const te = new TextEncoder();

test("the SDK's get-then-update of a secret keeps its value (values are write-only; no value means unchanged)", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const m = new sdk.Meshagent({ baseUrl: ts.url, token: (await ts.server.apiKeys.create("default", "t", Date.now())).key });
  const value = (room: string, name: string) => ts.server.secrets.resolveValue("default", room, name).then((v) => v?.toString());

  const id = await m.createProjectSecret({ projectId: "default", name: "api-key", type: "opaque", data: te.encode("s3cret") });
  const got = await m.getProjectSecret("default", id);
  assert.equal(got.dataBase64, "", "never shown");
  // What a settings page does: read, change the name, write back what it read.
  await m.updateProjectSecret({ projectId: "default", secretId: id, name: "api-key-2", type: got.type, data: got.data });
  assert.equal(await value("any", "api-key-2"), "s3cret", "renamed, value kept");
  assert.equal(await value("any", "api-key"), undefined);

  const roomId = await m.createRoomSecret({ projectId: "default", roomName: "lobby", name: "tok", type: "opaque", data: te.encode("room-value") });
  const r = await m.getRoomSecret({ projectId: "default", roomName: "lobby", secretId: roomId });
  await m.updateRoomSecret({ projectId: "default", roomName: "lobby", secretId: roomId, name: r.name, type: "bearer", data: r.data });
  assert.equal(await value("lobby", "tok"), "room-value");
  assert.equal((await m.getRoomSecret({ projectId: "default", roomName: "lobby", secretId: roomId })).type, "bearer");

  // A body without data_base64 at all keeps it too; a new value still replaces it.
  const put = await fetch(`${ts.url}/accounts/projects/default/secrets/${id}`, {
    method: "PUT", headers: { authorization: `Bearer ${m.token}`, "content-type": "application/json" }, body: JSON.stringify({ type: "x" }),
  });
  assert.equal(put.status, 204);
  assert.equal(await value("any", "api-key-2"), "s3cret");
  await m.updateProjectSecret({ projectId: "default", secretId: id, name: "api-key-2", type: "x", data: te.encode("rotated") });
  assert.equal(await value("any", "api-key-2"), "rotated");

  // The legacy listSecrets() parses every value as JSON: with write-only values it cannot work
  // (README "REST API": use listProjectSecrets / listRoomSecrets).
  await assert.rejects(m.listSecrets("default"), /Invalid secret payload/);
});
