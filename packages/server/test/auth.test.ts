import { test } from "node:test";
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { unpackPayload } from "@roomservice/protocol";
import { startTestServer, collectMessages, eventually, settle, sdk, guardedFactory, type TestServer } from "./helpers.ts";
import { mintParticipantToken } from "../src/index.ts";
import { connectRaw, refusedHandshake } from "./raw-client.ts";

const encoder = new TextEncoder();

/** Signs an arbitrary payload, for tokens mintParticipantToken would never produce. */
function signRaw(secret: string, payload: Record<string, unknown>, alg = "HS256"): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(encoder.encode(secret));
}

function grants(room: string | undefined, o: { role?: string; api?: unknown } = {}): Array<{ name: string; scope: unknown }> {
  const g: Array<{ name: string; scope: unknown }> = [];
  if (room !== undefined) g.push({ name: "room", scope: room });
  g.push({ name: "role", scope: o.role ?? "user" });
  if (o.api !== undefined) g.push({ name: "api", scope: o.api });
  return g;
}

/**
 * A protocol factory like the SDK's own, with one addition: SDK 0.39.9 (node) closes its
 * socket after a refused handshake with the socket still CONNECTING and its error listener
 * already removed, so ws emits an 'error' nobody handles and the process dies. A no-op
 * listener on the socket keeps the test process alive; nothing else changes. See
 * sdkClient() for the other half.
 */
/**
 * An SDK RoomClient for `room`. Besides the guarded factory: when start() fails, SDK 0.39.9
 * also rejects `client.ready`, which nobody awaits, so the same error surfaces a second time
 * as an unhandled rejection; observe it here so start()'s rejection is the only report.
 */
function sdkClient(ts: TestServer, room: string, jwt: string): any {
  const client = new sdk.RoomClient({ protocolFactory: guardedFactory(`${ts.wsUrl}/rooms/${room}`, jwt), reconnectTimeout: 0 });
  client.ready.catch(() => undefined);
  return client;
}

/** Starts an SDK client with `jwt`; resolves with the client or rejects with start()'s error. */
async function sdkConnect(ts: TestServer, room: string, jwt: string, t: { after(fn: () => unknown): void }): Promise<any> {
  const client = sdkClient(ts, room, jwt);
  await client.start();
  t.after(async () => {
    await settle(client);
    try {
      client.dispose();
    } catch {
      // already closed
    }
  });
  return client;
}

test("expired, wrongly signed, wrong-room, missing and garbage tokens are refused with 403 and their reason", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "room-a";
  const now = Math.floor(Date.now() / 1000);

  const cases: Array<{ name: string; token: string; reason: RegExp; status?: number }> = [
    { name: "expired", token: await ts.token(room, "alice", { ttlSeconds: -60 }), reason: /token expired/ },
    {
      name: "signed with another secret",
      token: await mintParticipantToken("some-other-secret", { room, identity: "alice", role: "user", ttlSeconds: 600 }),
      reason: /token signature invalid \(signed with a different secret\?\)/,
    },
    { name: "for another room", token: await ts.token("room-b", "alice"), reason: /token is for room "room-b", not "room-a"/ },
    { name: "missing", token: "", reason: /missing token: pass \?token=<jwt>, an Authorization: Bearer header or the meshagent-room\.<jwt> subprotocol/ },
    { name: "garbage", token: "not-a-jwt", reason: /token is not a valid JWT \(Invalid Compact JWS\): expected a JWT signed with the project secret/ },
    { name: "truncated signature", token: (await ts.token(room, "alice")).slice(0, -6), reason: /token signature invalid|token invalid|token is not a valid JWT/ },
    { name: "HS512 instead of HS256", token: await signRaw(ts.secret, { name: "alice", grants: grants(room) }, "HS512"), reason: /token algorithm not allowed; use HS256/ },
    {
      name: "unsigned (alg none)",
      token: `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify({ name: "alice", grants: grants(room) })).toString("base64url")}.`,
      reason: /token (algorithm not allowed|invalid|is not a valid JWT)/,
    },
    { name: "no participant name", token: await signRaw(ts.secret, { grants: grants(room), exp: now + 600 }), reason: /token has no participant name/ },
    { name: "no room grant", token: await signRaw(ts.secret, { name: "alice", grants: grants(undefined), exp: now + 600 }), reason: /token has no room grant/ },
    { name: "unknown role", token: await signRaw(ts.secret, { name: "alice", grants: grants(room, { role: "admin" }), exp: now + 600 }), reason: /token role "admin" is not one of user, agent, tool/ },
  ];

  for (const c of cases) {
    // The real SDK: start() fails at once (no retry on 403) with the server's reason.
    await assert.rejects(sdkClient(ts, room, c.token).start(), (err: Error) => {
      assert.match(err.message, /websocket connect failed with status 403/, `${c.name}: ${err.message}`);
      assert.match(err.message, c.reason, c.name);
      return true;
    });

    // On the wire: status 403, the reason in the status line and in a JSON body.
    const url = `${ts.wsUrl}/rooms/${room}` + (c.token === "" ? "" : `?token=${encodeURIComponent(c.token)}`);
    const refused = await refusedHandshake(url);
    assert.equal(refused.statusCode, 403, c.name);
    assert.match(refused.statusMessage, c.reason, `${c.name}: status line`);
    const body = JSON.parse(refused.body) as { error: string };
    assert.match(body.error, c.reason, `${c.name}: body`);
  }

  // A bad room name is a 404, not an auth failure.
  const notFound = await refusedHandshake(`${ts.wsUrl}/rooms/${encodeURIComponent("bad room!")}?token=${await ts.token(room, "alice")}`);
  assert.equal(notFound.statusCode, 404);
  assert.match(JSON.parse(notFound.body).error, /invalid room name "bad room!"/);

  // Nothing was admitted, and the server still serves valid tokens.
  assert.equal(ts.server.rooms.get(room)?.connections.size ?? 0, 0, "no refused client was admitted");
  const ok = await ts.client(room, "alice");
  assert.equal(ok.localParticipant.getAttribute("name"), "alice");
});

test("the token is accepted as ?token=, Authorization: Bearer and the meshagent-room.<jwt> subprotocol", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "transports";
  const jwt = await ts.token(room, "raw-user");

  for (const via of ["query", "bearer", "subprotocol"] as const) {
    const raw = await connectRaw(ts.wsUrl, room, jwt, { via });
    t.after(() => raw.close());
    const ready = await raw.waitType("room_ready");
    assert.equal(unpackPayload(ready.data).header.room_name, room, via);
    const init = unpackPayload((await raw.waitType("connected")).data).header as { attributes: Record<string, unknown> };
    assert.equal(init.attributes.name, "raw-user", `${via}: the identity comes from the token`);
    if (via === "subprotocol") assert.equal(raw.ws.protocol, `meshagent-room.${jwt}`, "the server echoes the subprotocol");
    else assert.equal(raw.ws.protocol, "");
    // And it is a working participant.
    raw.request(1, "room.invoke_tool", { toolkit: "messaging", tool: "list", arguments: { type: "json", json: {} } });
    assert.equal((await raw.response(1)).type, "json", via);
  }
  assert.equal(ts.server.rooms.get(room)?.connections.size, 3);

  // Each transport refuses a bad token the same way.
  const expired = await ts.token(room, "raw-user", { ttlSeconds: -1 });
  const bearer = await refusedHandshake(`${ts.wsUrl}/rooms/${room}`, { headers: { authorization: `Bearer ${expired}` } });
  assert.equal(bearer.statusCode, 403);
  assert.match(bearer.statusMessage, /token expired/);
  const sub = await refusedHandshake(`${ts.wsUrl}/rooms/${room}`, { protocols: [`meshagent-room.${expired}`] });
  assert.equal(sub.statusCode, 403);
  assert.match(sub.statusMessage, /token expired/);
  const other = await refusedHandshake(`${ts.wsUrl}/rooms/${room}`, { headers: { authorization: `Bearer ${await ts.token("elsewhere", "x")}` } });
  assert.equal(other.statusCode, 403);
  assert.match(other.statusMessage, /token is for room "elsewhere", not "transports"/);
});

test("tokens minted by the SDK's own ParticipantToken are accepted", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "sdk-tokens";

  const agentToken = new sdk.ParticipantToken({ name: "sdk-agent" });
  agentToken.addRoleGrant("agent");
  agentToken.addRoomGrant(room);
  agentToken.addApiGrant(sdk.ApiScope.agentDefault());
  const agentJwt = await agentToken.toJwt({ token: ts.secret, expiration: new Date(Date.now() + 3600_000) });
  const agent = await sdkConnect(ts, room, agentJwt, t);

  const userToken = new sdk.ParticipantToken({ name: "sdk-user" });
  userToken.addRoleGrant("user");
  userToken.addRoomGrant(room);
  userToken.addApiGrant(sdk.ApiScope.userDefault());
  const user = await sdkConnect(ts, room, await userToken.toJwt({ token: ts.secret }), t);

  // Storage and messaging both work with the SDK's default scopes.
  await agent.storage.upload("from-agent.txt", Buffer.from("hi"));
  assert.deepEqual((await user.storage.list("")).map((e: any) => e.name).filter((n: string) => n !== ".schemas"), ["from-agent.txt"]);
  const userBox = collectMessages(user);
  agent.messaging.enable();
  user.messaging.enable();
  await eventually(() => user.messaging.getParticipantByName("sdk-agent") !== null, 5000, "user sees the agent");
  assert.equal(user.messaging.getParticipantByName("sdk-agent").role, "agent", "role comes from the SDK token's role grant");
  await agent.messaging.broadcastMessage({ type: "hello", message: { from: "agent" } });
  await eventually(() => userBox.messages.some((m) => m.type === "hello"), 5000, "broadcast");

  // An SDK token whose expiration has passed is refused like any other.
  const stale = new sdk.ParticipantToken({ name: "stale" });
  stale.addRoleGrant("user");
  stale.addRoomGrant(room);
  stale.addApiGrant(sdk.ApiScope.userDefault());
  const staleJwt = await stale.toJwt({ token: ts.secret, expiration: new Date(Date.now() - 60_000) });
  await assert.rejects(sdkConnect(ts, room, staleJwt, t), /status 403: token expired/);
  // ...and so is one signed with another secret.
  await assert.rejects(sdkConnect(ts, room, await userToken.toJwt({ token: "not-the-secret" }), t), /status 403: token signature invalid/);
});

test("an api scope without storage: storage calls are denied with 403, messaging still works", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "no-storage";
  const limited = await ts.client(room, "limited", { api: { messaging: {} } });
  const full = await ts.client(room, "full");

  for (const call of [() => limited.storage.list(""), () => limited.storage.exists("x.txt"), () => limited.storage.stat("x.txt")]) {
    await assert.rejects(call(), (err: any) => {
      assert.equal(err.code, 403);
      assert.match(err.message, /permission denied: token's api grant does not include "storage"/);
      return true;
    });
  }
  await assert.rejects(limited.storage.upload("x.txt", Buffer.from("x")), /permission denied: token's api grant does not include "storage"/);
  await assert.rejects(limited.storage.download("x.txt"), /permission denied: token's api grant does not include "storage"/);
  assert.equal(await full.storage.exists("x.txt"), false, "the denied upload wrote nothing");

  // Messaging is granted: both directions work.
  const limitedBox = collectMessages(limited);
  const fullBox = collectMessages(full);
  limited.messaging.enable();
  full.messaging.enable();
  await eventually(() => limited.messaging.getParticipantByName("full") !== null && full.messaging.getParticipantByName("limited") !== null, 5000, "presence");
  await limited.messaging.broadcastMessage({ type: "from-limited", message: { ok: true } });
  await eventually(() => fullBox.messages.some((m) => m.type === "from-limited"), 5000, "broadcast from the limited client");
  await full.messaging.sendMessage({ to: full.messaging.getParticipantByName("limited"), type: "to-limited", message: {} });
  await eventually(() => limitedBox.messages.some((m) => m.type === "to-limited"), 5000, "direct message to the limited client");

  // Hosted toolkits need "agents", which this scope lacks too.
  await assert.rejects(limited.listToolkits({}), /permission denied: token's api grant does not include "agents"/);
});

test("flags inside a grant are enforced: messaging without broadcast", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "flags";
  const quiet = await ts.client(room, "quiet", { api: { messaging: { broadcast: false } } });
  const other = await ts.client(room, "other");
  await assert.rejects(
    quiet.invoke({ toolkit: "messaging", tool: "broadcast", input: { type: "x", message_json: "{}" } }),
    (err: any) => err.code === 403 && /token's api grant "messaging" does not allow "broadcast"/.test(err.message),
  );
  other.messaging.enable();
  await eventually(() => other.messaging.online, 5000, "other online");
  const otherBox = collectMessages(other);
  await quiet.invoke({ toolkit: "messaging", tool: "send", input: { to_participant_id: other.localParticipant.id, type: "direct", message_json: "{\"a\":1}" } });
  await eventually(() => otherBox.messages.some((m) => m.type === "direct"), 5000, "send is still allowed");
});

test("storage path grants: read-only public/ can be listed and downloaded but not written; private/ is out of reach", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "paths";
  const admin = await ts.client(room, "admin");
  await admin.storage.upload("public/a.txt", Buffer.from("public a"));
  await admin.storage.upload("public/docs/b.md", Buffer.from("# b"));
  await admin.storage.upload("private/x", Buffer.from("secret"));

  // The grant as raw JSON (snake_case read_only)...
  const viaJson = await ts.client(room, "reader-json", { api: { storage: { paths: [{ path: "public/", read_only: true }] } } });
  // ...and built with the SDK's own grant classes (which serialize to the same JSON).
  const sdkScope = new sdk.ApiScope({
    storage: new sdk.StorageGrant({ paths: [new sdk.StoragePathGrant({ path: "public/", readOnly: true })] }),
    messaging: new sdk.MessagingGrant(),
  });
  const tok = new sdk.ParticipantToken({ name: "reader-sdk" });
  tok.addRoleGrant("user");
  tok.addRoomGrant(room);
  tok.addApiGrant(sdkScope);
  const viaSdk = await sdkConnect(ts, room, await tok.toJwt({ token: ts.secret }), t);

  for (const [name, reader] of [["json grant", viaJson], ["SDK grant", viaSdk]] as const) {
    // Reading under public/ works, including the folder itself.
    assert.deepEqual((await reader.storage.list("public/")).map((e: any) => e.name), ["a.txt", "docs"], `${name}: list public/`);
    assert.deepEqual((await reader.storage.list("public")).map((e: any) => e.name), ["a.txt", "docs"], `${name}: list public`);
    assert.deepEqual((await reader.storage.list("public/docs")).map((e: any) => e.name), ["b.md"], name);
    assert.equal(Buffer.from((await reader.storage.download("public/a.txt")).data).toString(), "public a", name);
    assert.equal(await reader.storage.exists("public/docs/b.md"), true, name);
    assert.equal((await reader.storage.stat("public/a.txt")).size, 8, name);

    // Read-only: no upload, overwrite, delete or move.
    await assert.rejects(reader.storage.upload("public/new.txt", Buffer.from("n")), /permission denied: storage path "public\/new\.txt" is read-only for this token \(grant "public\/"\)/, name);
    await assert.rejects(reader.storage.upload("public/a.txt", Buffer.from("n"), { overwrite: true }), /read-only/, name);
    await assert.rejects(reader.storage.delete("public/a.txt"), (err: any) => err.code === 403 && /read-only/.test(err.message), name);
    await assert.rejects(reader.storage.move("public/a.txt", "public/c.txt"), (err: any) => err.code === 403 && /read-only/.test(err.message), name);

    // Outside the grant: neither read nor write, and not the root listing either.
    await assert.rejects(reader.storage.download("private/x"), /permission denied: storage path "private\/x" is outside the token's storage grant \("public\/"\)/, name);
    await assert.rejects(reader.storage.exists("private/x"), (err: any) => err.code === 403 && /outside the token's storage grant/.test(err.message), name);
    await assert.rejects(reader.storage.list(""), (err: any) => err.code === 403 && /outside the token's storage grant/.test(err.message), name);
    await assert.rejects(reader.storage.list("publicity"), /outside the token's storage grant/, `${name}: a sibling with the same prefix letters`);
    await assert.rejects(reader.storage.upload("private/y", Buffer.from("y")), /outside the token's storage grant/, name);
  }

  // Nothing changed on disk.
  assert.deepEqual((await admin.storage.list("public")).map((e: any) => e.name), ["a.txt", "docs"]);
  assert.equal(Buffer.from((await admin.storage.download("public/a.txt")).data).toString(), "public a");
  assert.equal(await admin.storage.exists("private/y"), false);

  // A read-write path grant can write there, and only there.
  const writer = await ts.client(room, "writer", { api: { storage: { paths: [{ path: "public/" }, { path: "inbox/" }] } } });
  await writer.storage.upload("inbox/drop.txt", Buffer.from("d"));
  await writer.storage.upload("public/w.txt", Buffer.from("w"));
  await assert.rejects(writer.storage.upload("private/z", Buffer.from("z")), /outside the token's storage grant \("public\/", "inbox\/"\)/);
  assert.equal(await admin.storage.exists("inbox/drop.txt"), true);
});

test("a token without any api grant connects, but every call is denied with a clear message", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "no-api";
  const jwt = await signRaw(ts.secret, { name: "bare", grants: grants(room), exp: Math.floor(Date.now() / 1000) + 600 });
  const bare = await sdkConnect(ts, room, jwt, t);
  assert.equal(bare.localParticipant.getAttribute("name"), "bare", "connected");

  const denied = (surface: string) => (err: any) => {
    assert.equal(err.code, 403, err.message);
    assert.equal(err.message, `permission denied: token has no api grant; add an api scope with "${surface}" to the token`);
    return true;
  };
  await assert.rejects(bare.storage.list(""), denied("storage"));
  await assert.rejects(bare.storage.exists("a"), denied("storage"));
  await assert.rejects(bare.invoke({ toolkit: "messaging", tool: "list", input: {} }), denied("messaging"));
  await assert.rejects(bare.invoke({ toolkit: "messaging", tool: "enable", input: {} }), denied("messaging"));
  await assert.rejects(bare.listToolkits({}), denied("agents"));
  await assert.rejects(bare.storage.upload("a.txt", Buffer.from("a")), /permission denied: token has no api grant; add an api scope with "storage"/);

  // The connection itself is unharmed: a scoped client in the same room is unaffected and
  // the bare one is still connected after all the denials.
  const other = await ts.client(room, "other");
  // (The room root may hold the seeded .schemas folder; the refused upload is not there.)
  assert.deepEqual((await other.storage.list("")).map((e: any) => e.name).filter((n: string) => n !== ".schemas"), []);
  assert.equal(ts.server.rooms.get(room)?.connections.size, 2);
});

test("a denied streamed call reports code 403 like a denied unary call", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const reader = await ts.client("stream-code", "reader", { api: { storage: { paths: [{ path: "public/", read_only: true }] } } });
  await assert.rejects(reader.storage.upload("public/x", Buffer.from("x")), (err: any) => {
    assert.match(err.message, /read-only/);
    assert.equal(err.code, 403);
    return true;
  });
});
