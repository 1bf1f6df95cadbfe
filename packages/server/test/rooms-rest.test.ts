import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, sdk, settle, startTestServer } from "./helpers.ts";

const api = async (ts: Awaited<ReturnType<typeof startTestServer>>) =>
  new sdk.Meshagent({ baseUrl: ts.url, token: (await ts.server.apiKeys.create("default", "test", Date.now())).key });

/** Response bodies are whatever JSON the route answers. */
const anyJson = (v: unknown): any => v;

test("the SDK's Meshagent client: createRoom, getRoom, listRooms (with live state)", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 200 });
  t.after(() => ts.close());
  const m = await api(ts);

  const created = await m.createRoom({ projectId: "default", name: "lobby", metadata: { topic: "demo" }, annotations: { team: "a" } });
  assert.deepEqual(created, { id: "lobby", name: "lobby", metadata: { topic: "demo" }, annotations: { team: "a" } });
  await assert.rejects(m.createRoom({ projectId: "default", name: "lobby" }), /Status code: 409/);
  const again = await m.createRoom({ projectId: "default", name: "lobby", ifNotExists: true });
  assert.equal(again.name, "lobby");
  assert.deepEqual(again.metadata, { topic: "demo" }, "if_not_exists returns the existing room unchanged");
  await assert.rejects(m.createRoom({ projectId: "default", name: "Bad Room!" }), /Status code: 400.*invalid room name/);

  assert.deepEqual(await m.getRoom("default", "lobby"), created);
  await assert.rejects(m.getRoom("default", "nowhere"), /Status code: 404/);

  // A room used without being created is listed too (it has a session).
  const alice = await ts.client("used", "alice");
  const rooms = await m.listRooms("default");
  assert.deepEqual(rooms.map((r: any) => r.name), ["lobby", "used"]);
  const raw = await (await fetch(`${ts.url}/accounts/projects/default/rooms`, { headers: { authorization: `Bearer ${m.token}` } })).json().then(anyJson);
  const used = raw.rooms.find((r: any) => r.name === "used");
  assert.equal(used.live.session_id, alice.sessionId);
  assert.equal(used.live.participants, 1);
  assert.equal(used.live.health, "none", "no services");
  assert.equal(raw.rooms.find((r: any) => r.name === "lobby").live, null);
  assert.deepEqual((await m.listRooms("default", { limit: 1, offset: 1 })).map((r: any) => r.name), ["used"]);
  await settle(alice);
  alice.dispose();
});

test("the SDK's Meshagent client: sessions (active, recent, one, events, metrics, terminate) in snake_case", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 200 });
  t.after(() => ts.close());
  const m = await api(ts);

  const alice = await ts.client("hall", "alice");
  const bob = await ts.client("hall", "bob", { role: "agent" });
  const sid = alice.sessionId as string;
  const active = await m.listActiveSessions("default");
  assert.equal(active.length, 1);
  assert.equal(active[0].id, sid);
  assert.equal(active[0].roomName, "hall");
  assert.equal(active[0].isActive, true);
  assert.ok(active[0].createdAt instanceof Date && !Number.isNaN(active[0].createdAt.getTime()));

  await settle(bob);
  bob.dispose();
  await eventually(async () => (await m.getSession("default", sid)).participants_detail.some((p: any) => p.name === "bob" && p.left_at !== null), 5000, "bob's departure recorded");

  // The SDK's terminateSession ends the live session now, with reason "terminated".
  await m.terminateSession("default", sid);
  await eventually(async () => (await ts.server.ctx.sessions.get(sid))?.endedAt !== null, 5000, "session ended");
  await assert.rejects(m.terminateSession("default", sid), /Status code: 409.*already ended/);
  await assert.rejects(m.terminateSession("default", "no-such-session"), /Status code: 404/);

  const recent = await m.listRecentSessions("default");
  assert.equal(recent[0].id, sid);
  assert.equal(recent[0].isActive, false);
  assert.deepEqual(recent[0].participants, ["alice", "bob"]);

  const one = await m.getSession("default", sid);
  assert.equal(one.room_name, "hall");
  assert.equal(one.is_active, false);
  assert.equal(one.end_reason, "terminated");
  assert.ok(Date.parse(one.ended_at) >= Date.parse(one.created_at));
  assert.deepEqual(one.participants_detail.map((p: any) => [p.name, p.role, p.left_at !== null]), [["alice", "user", true], ["bob", "agent", true]]);
  assert.deepEqual(one.services, []);

  const events = await m.listSessionEvents("default", sid);
  assert.deepEqual(events.map((e: any) => e.reason), ["SessionStarted", "ParticipantJoined", "ParticipantJoined", "ParticipantLeft", "SessionEnded"]);
  assert.ok(events.every((e: any) => e.session_id === sid && e.room === "hall"));
  assert.ok(events.every((e: any, i: number) => i === 0 || e.seq > events[i - 1].seq), "seq increases");
  assert.deepEqual(events[1].participant, { id: events[1].participant.id, name: "alice", role: "user" });
  assert.match(events.at(-1).message, /terminated/);
  assert.deepEqual(await m.listSessionMetrics("default", sid), [], "no services, no samples");

  // The per-room history route answers snake_case too (issue #12 case 28).
  const byRoom = await (await fetch(`${ts.url}/accounts/projects/default/rooms/hall/sessions`, { headers: { authorization: `Bearer ${m.token}` } })).json().then(anyJson);
  assert.deepEqual(Object.keys(byRoom.sessions[0]).sort(), ["created_at", "end_reason", "ended_at", "id", "is_active", "participant_count", "participants", "room_id", "room_name"]);
  assert.equal(byRoom.sessions[0].participant_count, 2);
  await settle(alice);
  alice.dispose();
});

test("the SDK's Meshagent client: createApiKey, listApiKeys, deleteApiKey; the new key works, the deleted one does not", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const m = await api(ts);
  const created = await m.createApiKey("default", "ci", "for the CI job");
  assert.equal(created.name, "ci");
  assert.equal(created.description, "for the CI job");
  assert.match(created.value, /^rsk_[0-9a-f]{32}_/);
  const listed = (await m.listApiKeys("default")).keys;
  assert.deepEqual(listed.map((k: any) => [k.name, k.description]), [["test", ""], ["ci", "for the CI job"]]);
  assert.ok(!JSON.stringify(listed).includes(created.value), "a key's value is shown only once");

  const viaNew = new sdk.Meshagent({ baseUrl: ts.url, token: created.value });
  assert.deepEqual(await viaNew.listServices("default"), []);
  await m.deleteApiKey("default", created.id);
  await assert.rejects(viaNew.listServices("default"), /Status code: 401/);
  await assert.rejects(m.deleteApiKey("default", created.id), /Status code: 404/);
  await assert.rejects(m.createApiKey("default", "", ""), /Status code: 400.*name/);
});

test("manifest validation without saving: located errors (line and column) for YAML, warnings, and nothing stored", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const validate = async (body: unknown) => {
    const r = await fetch(`${ts.url}/accounts/projects/default/services/validate`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal(r.status, 200);
    return r.json().then(anyJson);
  };
  const yaml = ["version: v1", "kind: Service", "metadata:", "  name: web", "container:", "  image: example/web:1", "ports:", "  - num: 8078", "    type: http", ""].join("\n");
  const bad = await validate({ yaml });
  assert.equal(bad.ok, false);
  const e = bad.errors.find((x: any) => x.path === "ports[0].num");
  assert.ok(e, JSON.stringify(bad.errors));
  assert.equal(e.line, 8);
  assert.equal(e.column, 10);
  assert.equal(e.got, "8078");
  assert.match(e.message, /reserved/);

  const typo = await validate({ yaml: yaml.replace("  image:", "  imag:").replace("8078", "8080") });
  assert.equal(typo.ok, false);
  const t1 = typo.errors.find((x: any) => x.path === "container.imag");
  assert.equal(t1.line, 6);

  const good = await validate({ yaml: yaml.replace("8078", "8080") });
  assert.deepEqual({ ok: good.ok, errors: good.errors }, { ok: true, errors: undefined });
  assert.ok(Array.isArray(good.warnings));
  const asObject = await validate({ version: "v1", kind: "Service", metadata: { name: "x" }, container: {} });
  assert.equal(asObject.ok, false);
  assert.equal(asObject.errors[0].path, "container.image");
  assert.equal("line" in asObject.errors[0], false, "no position is given when there is no text");
  assert.equal((await ts.server.services.list("default", null)).length, 0, "validation stores nothing");
});

test("live state, stream and kept-log routes: 400 for an invalid room name, 404 for an unknown service or session, 409 restart without a session", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const id = (await ts.server.services.create("default", "calm", "web", { version: "v1", kind: "Service", metadata: { name: "web" }, container: { image: "example/web:1" }, ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }, Date.now())).id;
  const get = (p: string, o: RequestInit = {}) => fetch(`${ts.url}/accounts/projects/default/${p}`, { ...o, headers: { authorization: `Bearer ${key}`, ...(o.headers ?? {}) } });

  const live = await (await get("rooms/calm/live")).json().then(anyJson);
  assert.equal(live.session, null);
  assert.deepEqual(live.services.map((s: any) => [s.name, s.state, s.scope, s.image, s.ports[0].num, s.ports[0].liveness_status]), [["web", "stopped", "room", "example/web:1", 8080, "not_ready"]]);

  const badRoom = await fetch(`${ts.url}/accounts/projects/default/rooms/bad%20room/services/${id}/logs?token=${key}`);
  assert.equal(badRoom.status, 400);
  assert.equal((await badRoom.json().then(anyJson)).code, "invalid_room_name");
  const unknown = await fetch(`${ts.url}/accounts/projects/default/rooms/calm/services/nope/logs?token=${key}`);
  assert.equal(unknown.status, 404);
  const otherRoom = await fetch(`${ts.url}/accounts/projects/default/rooms/other/services/${id}/logs?token=${key}`);
  assert.equal(otherRoom.status, 404, "a room service belongs to its room only");
  assert.equal((await fetch(`${ts.url}/accounts/projects/default/rooms/bad%20room/stream?token=${key}`)).status, 400);
  assert.equal((await fetch(`${ts.url}/accounts/projects/default/rooms/calm/stream?token=wrong`)).status, 401);

  const restart = await get(`rooms/calm/services/${id}/restart`, { method: "POST" });
  assert.equal(restart.status, 409);
  assert.equal((await restart.json().then(anyJson)).code, "no_session");
  assert.equal((await get("rooms/calm/services/nope/stop", { method: "POST" })).status, 404);
  const byName = await get("rooms/calm/services/web/restart", { method: "POST" });
  assert.equal(byName.status, 409, "a service may be named instead of its id");
  const logsByName = await fetch(`${ts.url}/accounts/projects/default/rooms/calm/services/web/logs?token=${key}`);
  assert.equal(logsByName.status, 200);
  await logsByName.body?.cancel();
  assert.equal((await get("sessions/nope/logs")).status, 404);
  assert.equal((await get("sessions/nope/events")).status, 404);
});

test("shutdown ends open streams instead of waiting for them (issue #12 case 13)", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const res = await fetch(`${ts.url}/accounts/projects/default/rooms/calm/stream?token=${key}`);
  assert.equal(res.status, 200);
  assert.equal(ts.server.streams.size, 1);
  const reader = res.body!.getReader();
  await reader.read(); // the snapshot
  await ts.server.close(); // would never resolve while an SSE response stays open
  let done = false;
  while (!done) ({ done } = await reader.read().catch(() => ({ done: true, value: undefined })));
  assert.equal(ts.server.streams.size, 0);
});

test("events kept per session are bounded: past the bound one EventsTruncated warning, and the session's end is still kept", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 0, activityLimits: { maxEventsPerSession: 3 } });
  t.after(() => ts.close());
  const m = await api(ts);
  const first = await ts.client("busy", "p0");
  const sid = first.sessionId as string;
  const others = [];
  for (let i = 1; i < 5; i++) others.push(await ts.client("busy", `p${i}`));
  for (const c of [first, ...others]) {
    await settle(c);
    c.dispose();
  }
  await eventually(async () => (await ts.server.ctx.sessions.get(sid))?.endedAt !== null, 5000, "session ended");
  const events = await m.listSessionEvents("default", sid);
  const reasons = events.map((e: any) => e.reason);
  assert.equal(reasons.filter((r: string) => r === "ParticipantJoined" || r === "ParticipantLeft").length, 3, reasons.join());
  assert.equal(reasons.filter((r: string) => r === "EventsTruncated").length, 1);
  assert.equal(reasons[0], "SessionStarted");
  assert.equal(reasons.at(-1), "SessionEnded");
  // Who took part is kept apart from the timeline, whole.
  assert.equal((await m.getSession("default", sid)).participants_detail.length, 5);
});
