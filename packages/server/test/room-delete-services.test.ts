/**
 * Deleting a room right after ending its session, with a real service container: the delete
 * waits for the services to stop (they write their kept logs into the room's directory while
 * stopping), then nothing of the room is left — no directory, no containers, no rows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { sdk, settle } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, labelled, waitUntil } from "./services-env.ts";

test("deleteRoom right after terminateSession waits for the services to stop, then leaves nothing behind", { timeout: 120_000 }, async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 60_000 });
  t.after(() => env.close());
  const room = "short-lived";
  const m = new sdk.Meshagent({ baseUrl: env.ts.url, token: (await env.ts.server.apiKeys.create("default", "t", Date.now())).key });
  await m.createRoomService("default", room, manifest("echo", IMAGES.http, { container: { image: IMAGES.http, environment: [{ name: "PORT", value: "8080" }] }, ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  const alice = await env.ts.client(room, "alice");
  const sid = alice.sessionId as string;
  await waitUntil("the service running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states;
    return st.some((s: any) => s.state === "running") ? true : undefined;
  }, 60_000);
  await settle(alice);

  await m.terminateSession("default", sid);
  await m.deleteRoom("default", room); // no wait in between: the delete waits for the stop itself
  assert.ok(!existsSync(join(env.ts.server.rooms.roomsDir, room)), "no directory (kept logs written while stopping included)");
  assert.deepEqual(labelled(env.ownerId, room), [], "no containers");
  assert.equal(await env.ts.server.ctx.sessions.get(sid), undefined);
  assert.deepEqual(await m.listRoomServices("default", room), []);
  await assert.rejects(m.getRoom("default", room), /Status code: 404/);
});
