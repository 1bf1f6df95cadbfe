/**
 * Issue 12 design item: one session-end reason type for the room and the store, and a hold
 * cannot be taken once the session has ended.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, settle } from "./helpers.ts";

test("hold() refuses once the session has ended, and the store records the room's end reason", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("hold-room", "alice");
  const room = ts.server.rooms.get("hold-room")!;
  const session = room.session!.id;
  const release = room.hold("test work");
  release();
  await settle(alice);
  room.endSession("server_shutdown");
  assert.throws(() => room.hold("late upload"), /the room's session has ended; cannot hold it for late upload/);
  assert.equal(room.holdCount, 0);
  assert.equal(ts.server.ctx.sessions.get(session)?.endReason, "server_shutdown");
});
