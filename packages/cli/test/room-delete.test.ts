import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { mintParticipantToken } from "@roomservice/server";
import { cliAsync, eventually, serve } from "./helpers.ts";

const sdk = createRequire(import.meta.url)("@meshagent/meshagent");

test("room end and room delete: delete asks for --yes, refuses a live room naming `room end`, then removes the room", async (t) => {
  const srv = await serve({ args: ["--no-demo"] });
  t.after(() => srv.stop());
  const o = { cwd: srv.home };
  const secret = readFileSync(join(srv.dataDir, "project-secret"), "utf8").trim();
  const jwt = await mintParticipantToken(secret, { room: "lobby", identity: "alice", role: "user", ttlSeconds: 600 });
  const alice = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${srv.url.replace(/^http/, "ws")}/rooms/lobby`, token: jwt }), reconnectTimeout: 0 });
  await alice.start();

  const unconfirmed = await cliAsync(["room", "delete", "lobby"], o);
  assert.notEqual(unconfirmed.code, 0);
  assert.match(unconfirmed.err, /add --yes to confirm/);
  const live = await cliAsync(["room", "delete", "lobby", "--yes"], o);
  assert.notEqual(live.code, 0);
  assert.match(live.err, /room lobby has a live session; end it first with: roomservice room end lobby/);

  const ended = await cliAsync(["room", "end", "lobby"], o);
  assert.equal(ended.code, 0, ended.err);
  assert.match(ended.out, /room lobby: session \S+ ended/);
  await eventually(async () => (await cliAsync(["room", "delete", "lobby", "--yes"], o)).code === 0, 20_000, "the delete after the session ended");
  const list = await cliAsync(["room", "list"], o);
  assert.doesNotMatch(list.out, /lobby/);
  const again = await cliAsync(["room", "delete", "lobby", "--yes"], o);
  assert.notEqual(again.code, 0);
  assert.match(again.err, /lobby/);
  try {
    alice.dispose();
  } catch {
    // the server closed it
  }
});
