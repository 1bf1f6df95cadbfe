import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, settle } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil, labelled } from "./services-env.ts";

test("queues: 1,000 messages from a participant arrive exactly once, in order, at a service receiving with wait", { timeout: 300_000 }, async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const room = "queue-room";
  await env.addService(room, manifest("queue-worker", IMAGES.queue));
  const alice = await env.ts.client(room, "alice");
  await alice.messaging.enable();
  await waitUntil("the worker participant", () => alice.messaging.getParticipantByName("queue-worker"), 60_000);

  for (let n = 0; n < 1000; n++) await alice.queues.send("jobs", { n }, { create: true });
  await alice.queues.send("jobs", { done: true }, { create: true });
  await eventually(() => alice.storage.exists("queue-worker/jobs.json"), 120_000, "the worker's report");
  const file = await alice.storage.download("queue-worker/jobs.json");
  const received = JSON.parse(Buffer.from(file.data).toString("utf8"));
  assert.deepEqual(received, Array.from({ length: 1000 }, (_, i) => i), "every message once, in order");

  await settle(alice);
  alice.dispose();
  await eventually(() => env.ts.server.rooms.get(room) === undefined, 30_000, "the session to end");
  await waitUntil("the worker's container removed", () => labelled(env.ownerId, room).length === 0, 60_000);
});
