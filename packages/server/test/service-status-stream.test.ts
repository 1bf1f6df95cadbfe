/**
 * What the room stream, the REST API and the SDK's services.list say about a service while
 * it crash-loops — after status() stopped cloning the event list (the runtimes hand out frozen
 * snapshots, Activity caches Studio's form per snapshot). Every `service` message must show the
 * state as it was when sent (restart counts and event counts only grow from one message to the
 * next, each message's events are those of its moment), and once the service is stopped the
 * last message, the REST live view and services.list all agree with the runtime.
 * Sandbox runtime, a host command as the service: no Docker needed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { createSandboxRuntime } from "@roomservice/runtime";
import { settle, startTestServer } from "./helpers.ts";
import { openSse } from "./sse-client.ts";

test("a crash-looping service: each stream message is its moment's state; stream, REST and services.list agree at the end", async (t) => {
  const ownerId = `test-st-${randomBytes(4).toString("hex")}`;
  const logger = pino({ level: "silent" });
  const runtime = await createSandboxRuntime({ ownerId, logger });
  const ts = await startTestServer({ runtime, logger, departureTimeoutMs: 300 });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans(ownerId);
  });
  const id = (await ts.server.services.create("default", "loop", "crasher", {
    version: "v1", kind: "Service", metadata: { name: "crasher" },
    container: { image: "host", command: `${process.execPath} -e ${JSON.stringify("console.log('up');process.exit(3)")}` },
    roomservice: { restart: { policy: "always", initialBackoffSeconds: 0.1, maxBackoffSeconds: 0.2 } },
  }, Date.now())).id;
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const s = await openSse(`${ts.url}/accounts/projects/default/rooms/loop/stream?token=${key}`);
  const alice = await ts.client("loop", "alice");
  await s.waitFor((e) => e.event === "service" && e.data.service_id === id && e.data.restart_count >= 4, 30_000, "four restarts");

  const stop = await fetch(`${ts.url}/accounts/projects/default/rooms/loop/services/${id}/stop`, { method: "POST", headers: { authorization: `Bearer ${key}` } });
  assert.equal(stop.status, 202);
  await s.waitFor((e) => e.event === "service" && e.data.service_id === id && e.data.state === "stopped", 20_000, "stopped");

  const states = s.events.filter((e) => e.event === "service" && e.data.service_id === id).map((e) => e.data);
  assert.ok(states.length >= 8, `state messages: ${states.length}`);
  const count = (st: any, reason: string) => st.events.filter((e: any) => e.reason === reason).reduce((n: number, e: any) => n + e.count, 0);
  for (let i = 1; i < states.length; i++) {
    const [a, b] = [states[i - 1], states[i]];
    assert.ok(b.restart_count >= a.restart_count, `message ${i}: restart_count ${a.restart_count} → ${b.restart_count}`);
    for (const reason of ["Started", "Exited", "BackOff"]) {
      assert.ok(count(b, reason) >= count(a, reason), `message ${i}: ${reason} count went down`);
    }
  }
  // Messages are not all the same snapshot: the early ones show fewer exits than the last.
  assert.ok(count(states[0], "Exited") < count(states.at(-1), "Exited"), "an early message kept its own (smaller) counts");
  // Each message's events are those of its moment: a message that says "backoff" after the
  // n-th start has seen at least n Exited occurrences (the exit that led to it).
  for (const st of states.filter((x) => x.state === "backoff")) {
    assert.ok(count(st, "Exited") >= count(st, "Started"), `backoff message with ${count(st, "Started")} starts has ${count(st, "Exited")} exits`);
  }

  // The end state, three ways, agrees with the runtime.
  const handle = ts.server.launcher.liveSession("loop")!.services.find((x) => x.record.id === id)!.handle!;
  const runtimeEvents = handle.status().events.map((e) => [e.reason, e.message, e.count]);
  const last = states.at(-1);
  assert.deepEqual(last.events.map((e: any) => [e.reason, e.message, e.count]), runtimeEvents, "the stream's last message shows the runtime's events");
  const live = (await (await fetch(`${ts.url}/accounts/projects/default/rooms/loop/live`, { headers: { authorization: `Bearer ${key}` } })).json()) as any;
  const viaRest = live.services.find((x: any) => x.service_id === id);
  assert.deepEqual(viaRest, last, "the REST live view is the stream's last message");
  // The SDK's services.list keeps no events; its state and counts must be the runtime's.
  const listed = (await alice.services.listWithState()).serviceStates[id];
  const now = handle.status();
  assert.deepEqual([listed.state, listed.restartCount, listed.lastExitCode], [now.state, now.restart_count, now.last_exit_code]);
  s.close();
  await settle(alice);
  alice.dispose();
});
