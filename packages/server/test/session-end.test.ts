/**
 * Issue 12 design item: one session-end reason type for the room and the store, and a hold
 * cannot be taken once the session has ended.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SessionEndedError } from "../src/rooms/room.ts";
import { startTestServer, settle } from "./helpers.ts";

test("hold() refuses once the session has ended, and the store records the room's end reason", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("hold-room", "alice");
  const room = ts.server.rooms.get("hold-room")!;
  const session = room.session!.id;
  const hold = () => room.hold({ owner: { kind: "server", name: "test" }, reason: "late upload", idleTimeoutMs: 60_000, onExpire: () => {} });
  hold().release();
  await settle(alice);
  room.endSession("server_shutdown");
  assert.throws(hold, SessionEndedError);
  assert.equal(room.holdCount, 0);
  assert.equal((await ts.server.ctx.sessions.get(session))?.endReason, "server_shutdown");
});
