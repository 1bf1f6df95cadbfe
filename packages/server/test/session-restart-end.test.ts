import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sdk, settle } from "./helpers.ts";
import { spawnServer, waitExit } from "./process.ts";
import { mintParticipantToken } from "../src/index.ts";

const SECRET = "restart-end-secret-0123456789";

test("a session a server kill left open is closed at the next start with a SessionEnded event (server_restart) ending its timeline", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-restart-end-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const env = { MESHAGENT_SECRET: SECRET };
  const admin = await mintParticipantToken(SECRET, { room: "*", identity: "admin", role: "user", api: { admin: {} } as never, ttlSeconds: 600 });
  const get = async (url: string, path: string) => {
    const r = await fetch(`${url}/accounts/projects/default${path}`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as any;
  };

  const first = await spawnServer(dataDir, env);
  t.after(() => first.child.kill("SIGKILL"));
  const token = await mintParticipantToken(SECRET, { room: "killed", identity: "alice", role: "user", ttlSeconds: 600 });
  const client = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${first.url.replace(/^http/, "ws")}/rooms/killed`, token }), reconnectTimeout: 0 });
  await client.start();
  const [{ id: sid }] = (await get(first.url, "/rooms/killed/sessions")).sessions;
  // The events route flushes: the join is on disk before the kill.
  assert.ok((await get(first.url, `/sessions/${sid}/events`)).events.some((e: any) => e.reason === "ParticipantJoined"));
  first.child.kill("SIGKILL");
  await waitExit(first.child);
  await settle(client);
  client.dispose();

  const second = await spawnServer(dataDir, env);
  t.after(() => second.child.kill("SIGKILL"));
  const session = await get(second.url, `/sessions/${sid}`);
  assert.equal(session.end_reason, "server_restart");
  assert.equal(session.is_active, false);
  const { events } = await get(second.url, `/sessions/${sid}/events`);
  const last = events[events.length - 1];
  assert.equal(last.reason, "SessionEnded");
  assert.equal(last.kind, "session");
  assert.match(last.message, /^Session ended \(server_restart/);
  assert.equal(last.at, session.ended_at);
  assert.equal(events.filter((e: any) => e.reason === "SessionEnded").length, 1);
  // Everyone still in the room left when it ended.
  assert.ok(session.participants_detail.every((p: any) => p.left_at === session.ended_at), JSON.stringify(session.participants_detail));
});
