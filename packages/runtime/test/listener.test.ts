/**
 * openRoomApiListener (a docker detail): a second listener on the room's 8078 fails clearly.
 * Services reaching the Room API at its URL is checked for every runtime by the conformance
 * suite (conformance/suite.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setup, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

test("listening on a port already taken in the room fails with a clear error", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "api-room", sessionId: "s-api-2" });
  try {
    const first = await env.runtime.openRoomApiListener(sb, 8078);
    await assert.rejects(env.runtime.openRoomApiListener(sb, 8078), /EADDRINUSE/);
    await new Promise((r) => first.close(r));
  } finally {
    await sb.stop();
  }
});
