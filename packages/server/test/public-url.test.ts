import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintParticipantToken } from "../src/index.ts";
import { runCli, sdk, settle, startTestServer } from "./helpers.ts";

test("publicUrl: connect's room_url, room_ready.room_url and download_url use it; a service inside its room keeps URLs it can reach", async (t) => {
  const ts = await startTestServer({ publicUrl: "https://rooms.example.com/rs/" });
  t.after(() => ts.close());
  const m = new sdk.Meshagent({ baseUrl: ts.url, token: (await ts.server.apiKeys.create("default", "t", Date.now())).key });
  const info = await m.connectRoom("default", "lobby");
  assert.equal(info.roomUrl, "wss://rooms.example.com/rs/rooms/lobby");

  const alice = await ts.client("lobby", "alice");
  assert.equal(alice.roomUrl, "wss://rooms.example.com/rs/rooms/lobby", "room_ready.room_url");
  await alice.storage.upload("a.txt", Buffer.from("x"));
  assert.match(await alice.storage.downloadUrl("a.txt"), /^https:\/\/rooms\.example\.com\/rs\/rooms\/lobby\/storage\/download\?token=/);

  // A service's token (bound to the live session): it connects from inside the room.
  const jwt = await mintParticipantToken(ts.secret, {
    room: "lobby", identity: "svc", role: "agent", ttlSeconds: 600, service: { sessionId: alice.sessionId, serviceId: "s1" },
  } as never);
  const svc = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${ts.wsUrl}/rooms/lobby`, token: jwt }), reconnectTimeout: 0 });
  await svc.start();
  const port = new URL(ts.url).port;
  assert.equal(svc.roomUrl, `ws://127.0.0.1:${port}/rooms/lobby`);
  const url = await svc.storage.downloadUrl("a.txt");
  assert.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${port}/rooms/lobby/storage/download\\?token=`));
  assert.equal(await (await fetch(url)).text(), "x", "the URL works from where the service is");
  await settle(svc);
  svc.dispose();
  await settle(alice);
});

test("without publicUrl URLs follow the Host header (http/ws); a bad public URL is refused with what was expected", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("lobby", "alice");
  assert.equal(alice.roomUrl, `${ts.wsUrl}/rooms/lobby`);
  await settle(alice);

  const dataDir = await mkdtemp(join(tmpdir(), "rs-pub-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  await assert.rejects(startTestServer({ dataDir, publicUrl: "ftp://rooms.example.com" }), /publicUrl: scheme ftp is not http or https \(expected a base URL such as https:\/\/rooms\.example\.com/);
  const r = await runCli(["serve", "--data", join(dataDir, "cli"), "--port", "0", "--public-url", "https://rooms.example.com/?x=1"]);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /--public-url: no query or fragment allowed/);
});
