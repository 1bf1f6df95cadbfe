import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventually, sdk, settle, startTestServer } from "./helpers.ts";

const manifest = (name: string) => ({
  version: "v1", kind: "Service", metadata: { name }, container: { image: "example/none:latest" },
});

async function setup() {
  const ts = await startTestServer({ departureTimeoutMs: 100 });
  const key = (await ts.server.apiKeys.create("default", "test", Date.now())).key;
  return { ts, key, m: new sdk.Meshagent({ baseUrl: ts.url, token: key }) };
}

test("the SDK's updateRoom sets metadata and annotations; a rename is refused with the field named", async (t) => {
  const { ts, key, m } = await setup();
  t.after(() => ts.close());
  await m.createRoom({ projectId: "default", name: "lobby", metadata: { topic: "a" }, annotations: { team: "x" } });

  await m.updateRoom("default", "lobby", "lobby", { metadata: { topic: "b" } });
  assert.deepEqual(await m.getRoom("default", "lobby"), { id: "lobby", name: "lobby", metadata: { topic: "b" }, annotations: { team: "x" } }, "annotations kept when not sent");
  await m.updateRoom("default", "lobby", "lobby", { annotations: { team: "y" } });
  assert.deepEqual((await m.getRoom("default", "lobby")).annotations, { team: "y" });

  await assert.rejects(m.updateRoom("default", "lobby", "hall"), /Status code: 400.*rooms cannot be renamed/);
  const raw = await fetch(`${ts.url}/accounts/projects/default/rooms/lobby`, {
    method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ name: "hall" }),
  });
  assert.equal(raw.status, 400);
  const body = (await raw.json()) as { errors: { path: string; expected: string; got: string }[] };
  assert.deepEqual(body.errors.map((e) => [e.path, e.expected, e.got]), [["name", '"lobby"', '"hall"']]);
  const typo = await fetch(`${ts.url}/accounts/projects/default/rooms/lobby`, {
    method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ name: "lobby", metdata: {} }),
  });
  assert.equal(typo.status, 400, "unknown fields are refused");
  assert.match(await typo.text(), /metdata/);
  await assert.rejects(m.updateRoom("default", "nowhere", "nowhere", { metadata: {} }), /Status code: 404/);

  // A room known only by its configuration gets a record with the metadata.
  await m.createRoomService("default", "implicit", manifest("bot"));
  await m.updateRoom("default", "implicit", "implicit", { metadata: { k: 1 } });
  assert.deepEqual((await m.getRoom("default", "implicit")).metadata, { k: 1 });
});

test("the SDK's deleteRoom: refused while a session is live, then removes everything of the room and nothing else", async (t) => {
  const { ts, m } = await setup();
  t.after(() => ts.close());
  const te = new TextEncoder();
  // The room to delete: record, a room service, a room secret, a setting, files, a queue, a session.
  await m.createRoom({ projectId: "default", name: "doomed", metadata: { a: 1 } });
  await m.createRoomService("default", "doomed", manifest("bot"));
  await m.createRoomSecret({ projectId: "default", roomName: "doomed", name: "k", type: "opaque", data: te.encode("room-secret") });
  await fetch(`${ts.url}/accounts/projects/default/rooms/doomed/settings`, {
    method: "PUT", headers: { authorization: `Bearer ${m.token}`, "content-type": "application/json" }, body: JSON.stringify({ departure_timeout_seconds: 0.1 }),
  });
  // What must survive: project configuration and another room.
  const projectService = await m.createService("default", manifest("shared"));
  const projectSecret = await m.createProjectSecret({ projectId: "default", name: "p", type: "opaque", data: te.encode("project-secret") });
  await m.createRoomService("default", "keeper", manifest("bot"));

  const alice = await ts.client("doomed", "alice");
  const keeperClient = await ts.client("keeper", "bob");
  await alice.storage.upload("notes/a.txt", Buffer.from("hello"));
  await keeperClient.storage.upload("b.txt", Buffer.from("kept"));
  await alice.queues.send("jobs", { n: 1 }, { create: true });
  await keeperClient.queues.send("jobs", { n: 2 }, { create: true });
  const sid = alice.sessionId as string;

  await assert.rejects(m.deleteRoom("default", "doomed"), (err: Error) => {
    assert.match(err.message, /Status code: 409/);
    assert.match(err.message, new RegExp(`live session \\(${sid}\\).*sessions/${sid}/terminate`));
    return true;
  });
  assert.equal((await m.getRoom("default", "doomed")).name, "doomed", "nothing deleted by the refused call");

  await settle(alice);
  await m.terminateSession("default", sid);
  await eventually(async () => (await ts.server.ctx.sessions.get(sid))?.endedAt !== null && ts.server.rooms.get("doomed")?.session == null, 5000, "session ended");

  const roomDir = join(ts.server.rooms.roomsDir, "doomed");
  assert.ok(existsSync(join(roomDir, "storage", "notes", "a.txt")));
  await m.deleteRoom("default", "doomed");

  await assert.rejects(m.getRoom("default", "doomed"), /Status code: 404/);
  assert.ok(!(await m.listRooms("default")).some((r: any) => r.name === "doomed"), "not listed (no session history keeps it known)");
  assert.ok(!existsSync(roomDir), "storage, sync documents and kept logs are gone");
  assert.equal(await ts.server.ctx.sessions.get(sid), undefined, "session history is gone");
  assert.deepEqual(await ts.server.services.list("default", "doomed"), []);
  assert.deepEqual(await ts.server.secrets.list("default", "doomed"), []);
  assert.equal(ts.server.ctx.roomSettings.departureTimeoutMs("doomed"), undefined);
  await assert.rejects(m.deleteRoom("default", "doomed"), /Status code: 404/);

  // Untouched: project service and secret, the other room with its files and queue.
  assert.equal((await ts.server.services.get(projectService))?.name, "shared");
  assert.equal((await ts.server.secrets.resolveValue("default", "doomed", "p"))!.toString(), "project-secret");
  assert.ok(projectSecret);
  assert.equal((await m.listRoomServices("default", "keeper")).length, 1);
  assert.equal(Buffer.from((await keeperClient.storage.download("b.txt")).data).toString(), "kept");
  assert.deepEqual((await keeperClient.queues.list()).map((q: any) => q.name), ["jobs"]);

  // The name can be used again and starts empty.
  const again = await ts.client("doomed", "carol");
  assert.deepEqual((await again.storage.list("")).map((e: any) => e.name).filter((n: string) => n !== ".schemas"), []);
  assert.deepEqual(await again.queues.list(), []);
  await settle(again);
  await settle(keeperClient);
});

test("a connection while a room is being deleted is refused", async (t) => {
  const { ts } = await setup();
  t.after(() => ts.close());
  ts.server.rooms.deleting.add("busy");
  const jwt = await ts.token("busy", "alice");
  const res = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${ts.wsUrl}/rooms/busy?token=${jwt}`);
    ws.onerror = () => resolve(-1);
    ws.onopen = () => resolve(101);
  });
  assert.equal(res, -1, "the handshake is refused");
  assert.equal(ts.server.rooms.get("busy"), undefined, "no room (or session) was created");
  ts.server.rooms.deleting.delete("busy");
  // Leftover tombstones of a crash mid-delete are removed at start (RoomManager.discardIncompleteUploads).
  mkdirSync(join(ts.server.rooms.roomsDir, ".deleting-x", "storage"), { recursive: true });
  writeFileSync(join(ts.server.rooms.roomsDir, ".deleting-x", "storage", "f"), "x");
  await ts.server.rooms.discardIncompleteUploads();
  assert.ok(!existsSync(join(ts.server.rooms.roomsDir, ".deleting-x")));
});
