import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { createSandboxRuntime } from "@roomservice/runtime";
import { sdk, settle, startTestServer } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil } from "./services-env.ts";
import { openSse } from "./sse-client.ts";
import { liveHeapBytes } from "./heap.ts";

const node = (code: string) => `/usr/local/bin/node -e ${JSON.stringify(code)}`;

/** Response bodies are whatever JSON the route answers. */
const anyJson = (v: unknown): any => v;

test("the room stream tells a session as one story: snapshot, session, participants, service states and events, logs, stats, heartbeats, resume", async (t) => {
  const env = await startServicesServer({
    departureTimeoutMs: 300,
    server: { streamLimits: { heartbeatMs: 300 }, activityLimits: { statsIntervalMs: 500 } },
  });
  t.after(() => env.close());
  const ts = env.ts;
  const webId = await env.addService("story", manifest("web", IMAGES.http, {
    ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
    roomservice: { resources: { memory: "128Mi", cpus: 0.5 } },
  }));
  const talkerId = await env.addService("story", manifest("talker", IMAGES.http, {
    container: { image: IMAGES.http, command: node("let i=0;setInterval(()=>console.log('tick '+(i++)),100)") },
  }));
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const streamUrl = `${ts.url}/accounts/projects/default/rooms/story/stream`;

  // Watching an idle room: the snapshot lists the configured services, stopped.
  const s1 = await openSse(`${streamUrl}?token=${key}`);
  assert.equal(s1.status, 200);
  const snap = await s1.waitFor((e) => e.event === "snapshot");
  assert.equal(snap.data.session, null);
  assert.deepEqual(snap.data.services.map((s: any) => [s.name, s.state]).sort(), [["talker", "stopped"], ["web", "stopped"]]);

  const alice = await ts.client("story", "alice");
  const sid = alice.sessionId as string;
  await s1.waitFor((e) => e.event === "session" && e.data.action === "started" && e.data.session_id === sid, 10_000, "session started");
  const joined = await s1.waitFor((e) => e.event === "participant" && e.data.action === "joined", 10_000, "alice joined");
  assert.equal(joined.data.participant.name, "alice");
  await s1.waitFor((e) => e.event === "service" && e.data.service_id === webId && e.data.state === "ready", 60_000, "web ready");
  for (const reason of ["Created", "Started", "Ready"]) {
    await s1.waitFor((e) => e.event === "event" && e.data.service_id === webId && e.data.reason === reason, 10_000, `web ${reason}`);
  }
  const listening = await s1.waitFor((e) => e.event === "log" && e.data.service_id === webId && /listening on 8080/.test(e.data.text), 10_000, "web's first line");
  assert.equal(listening.data.stream, "stdout");
  assert.equal(listening.data.service_name, "web");
  await s1.waitFor((e) => e.event === "log" && e.data.service_id === talkerId && /^tick \d+$/.test(e.data.text), 10_000, "talker's lines");

  // Stats: CPU % and memory per running service, with the manifest's limits.
  const webStats = await s1.waitFor((e) => e.event === "stats" && e.data.service_id === webId && e.data.memory_bytes > 0, 15_000, "web stats");
  assert.equal(webStats.data.memory_limit_bytes, 128 * 1024 * 1024);
  assert.equal(webStats.data.cpu_limit_cores, 0.5);
  assert.ok(webStats.data.memory_bytes < 128 * 1024 * 1024);
  const talkerStats = await s1.waitFor((e) => e.event === "stats" && e.data.service_id === talkerId && e.data.cpu_percent > 0, 15_000, "talker uses some CPU");
  assert.equal(talkerStats.data.memory_limit_bytes, null);
  assert.ok(talkerStats.data.cpu_percent < 400);

  // Everything carries this session's id; ids increase; heartbeats arrive.
  for (const e of s1.events.filter((x) => x.event === "log" || x.event === "event" || x.event === "stats")) assert.equal(e.data.session_id, sid);
  const ids = s1.events.map((e) => e.id!).filter((_id, i) => i > 0);
  assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), "ids increase");
  await waitUntil("a heartbeat", () => s1.comments.includes("ping"), 5000);

  // The live state route agrees with the stream.
  const live = await (await fetch(`${ts.url}/accounts/projects/default/rooms/story/live`, { headers: { authorization: `Bearer ${key}` } })).json().then(anyJson);
  assert.equal(live.session.id, sid);
  assert.deepEqual(live.session.participants.map((p: any) => p.name), ["alice"]);
  const web = live.services.find((s: any) => s.service_id === webId);
  assert.deepEqual([web.state, web.ports[0].liveness_status, web.scope], ["ready", "ready", "room"]);

  // Resume after an id: what was sent after it comes again (after a fresh snapshot).
  const pivot = s1.events.find((e) => e.event === "log" && e.data.service_id === talkerId)!;
  const s2 = await openSse(streamUrl, { authorization: `Bearer ${key}`, "last-event-id": String(pivot.id) });
  const snap2 = await s2.waitFor((e) => e.event === "snapshot");
  assert.equal(snap2.data.session.id, sid);
  const firstReplayed = await s2.waitFor((e) => e.event !== "snapshot");
  const expected = s1.events.find((e) => e.id! > pivot.id! && e.event !== "snapshot")!;
  assert.equal(firstReplayed.id, expected.id, "resume continues right after Last-Event-ID");
  assert.deepEqual(firstReplayed.data, expected.data);
  s2.close();

  // A fresh client gets the session's recent lines right after the snapshot.
  const s3 = await openSse(`${streamUrl}?token=${key}`);
  await s3.waitFor((e) => e.event === "log" && e.data.text === listening.data.text, 5000, "replayed first line");
  s3.close();

  // The per-service log stream: that service's lines only.
  const logs = await openSse(`${ts.url}/accounts/projects/default/rooms/story/services/${talkerId}/logs?token=${key}`);
  await logs.waitFor((e) => e.event === "log" && /tick/.test(e.data.text), 5000, "talker log");
  await waitUntil("live marker", () => logs.comments.includes("live"), 5000);
  assert.ok(logs.events.every((e) => (e.event === "log" || e.event === "event") && e.data.service_id === talkerId));
  const talkerLogs = logs;

  // Restart through REST: 202, then Killing and a new start on the stream.
  const before = s1.events.length;
  const r = await fetch(`${ts.url}/accounts/projects/default/rooms/story/services/${webId}/restart`, { method: "POST", headers: { authorization: `Bearer ${key}` } });
  assert.equal(r.status, 202);
  await s1.waitFor((e) => s1.events.indexOf(e) >= before && e.event === "event" && e.data.service_id === webId && e.data.reason === "Killing", 20_000, "Killing");
  await s1.waitFor((e) => s1.events.indexOf(e) >= before && e.event === "service" && e.data.service_id === webId && e.data.state === "ready" && e.data.restart_count >= 0, 30_000, "ready again");

  // Stop through REST: the service stops and stays stopped.
  const stop = await fetch(`${ts.url}/accounts/projects/default/rooms/story/services/${talkerId}/stop`, { method: "POST", headers: { authorization: `Bearer ${key}` } });
  assert.equal(stop.status, 202);
  await s1.waitFor((e) => e.event === "service" && e.data.service_id === talkerId && e.data.state === "stopped", 20_000, "talker stopped");
  // ...and its own stream carried the event (issue #12 case 17: events on the per-service stream).
  await talkerLogs.waitFor((e) => e.event === "event" && e.data.reason === "Killing", 10_000, "Killing on the service's stream");
  assert.ok(talkerLogs.events.every((e) => e.data.service_id === talkerId));
  talkerLogs.close();

  // Leaving ends the session: participant left, session ended with its reason.
  await settle(alice);
  alice.dispose();
  await s1.waitFor((e) => e.event === "participant" && e.data.action === "left", 10_000, "alice left");
  const ended = await s1.waitFor((e) => e.event === "session" && e.data.action === "ended", 10_000, "session ended");
  assert.equal(ended.data.reason, "departure_timeout");
  s1.close();
});

test("a client that stops reading is dropped; the server's per-client buffer stays bounded and a reading client keeps its stream", async (t) => {
  const limit = 256 * 1024;
  const env = await startServicesServer({ server: { streamLimits: { maxSseBufferedBytes: limit, heartbeatMs: 1000 } } });
  t.after(() => env.close());
  const ts = env.ts;
  // About 2 MB/s of log lines.
  await env.addService("flood", manifest("flood", IMAGES.http, {
    container: { image: IMAGES.http, command: node("const s='x'.repeat(1000);setInterval(()=>{for(let i=0;i<20;i++)console.log(s)},10)") },
  }));
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const alice = await ts.client("flood", "alice");
  const reader = await openSse(`${ts.url}/accounts/projects/default/rooms/flood/stream?token=${key}`);
  await reader.waitFor((e) => e.event === "log", 60_000, "flood lines");
  // Let the room's replay buffers fill to their bounds first, so heap figures compare like with like.
  await waitUntil("the room's buffers full", () => reader.events.length > 6000, 60_000);
  reader.events.splice(0);
  const heapBefore = await liveHeapBytes();

  // A raw client that sends its request and never reads a byte.
  const { port } = new URL(ts.url);
  const known = new Set(ts.server.streams);
  const stalled = net.connect(Number(port), "127.0.0.1");
  stalled.on("error", () => undefined);
  await new Promise((r) => stalled.once("connect", r));
  stalled.pause();
  stalled.write(`GET /accounts/projects/default/rooms/flood/stream?token=${key} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  const client = await waitUntil("the stalled client's stream", () => [...ts.server.streams].find((c) => !known.has(c)), 10_000);

  // The server drops it once the bytes waiting for it pass the bound.
  await waitUntil("the stalled client dropped", () => client.state.kind === "dropped", 60_000);
  assert.match((client.state as { reason: string }).reason, /did not keep up/);
  assert.ok(client.peakBufferedBytes <= limit, `peak bytes queued for the stalled client ${client.peakBufferedBytes} <= ${limit}`);
  assert.ok(!ts.server.streams.has(client), "the dropped client is forgotten");
  await waitUntil("its socket cut", () => client.bufferedBytes === 0, 10_000);

  // Keep flooding a while longer: the reading client keeps its stream, nothing grows for the other.
  const countBefore = reader.events.length;
  await waitUntil("more lines for the reader", () => reader.events.length > countBefore + 2000, 30_000);
  assert.ok(ts.server.streams.size === 1 && [...ts.server.streams][0]!.open, "the client that reads is not dropped");
  reader.events.splice(0);
  const heapGrowth = (await liveHeapBytes()) - heapBefore;
  t.diagnostic(`heap growth while flooding after the drop: ${(heapGrowth / 1048576).toFixed(1)} MiB; peak queued ${client.peakBufferedBytes} bytes`);
  assert.ok(heapGrowth < 8 * 1024 * 1024, `live heap grew ${heapGrowth} bytes`);

  // The stalled client, once it reads, finds its stream cut rather than endless.
  const ended = new Promise<void>((resolve) => stalled.on("close", () => resolve()));
  stalled.resume();
  await ended;

  reader.close();
  await settle(alice);
  alice.dispose();
});

test("the sandbox runtime's services get stats samples too (from /proc), on the stream and kept with the session", async (t) => {
  const ownerId = `test-sbx-${randomBytes(4).toString("hex")}`;
  const logger = pino({ level: "silent" });
  const runtime = await createSandboxRuntime({ ownerId, logger });
  const ts = await startTestServer({ runtime, logger, departureTimeoutMs: 300, activityLimits: { statsIntervalMs: 300 } });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans(ownerId);
  });
  const id = (await ts.server.services.create("default", "sbx", "spinner", {
    version: "v1", kind: "Service", metadata: { name: "spinner" },
    container: { image: "host", command: `${process.execPath} -e ${JSON.stringify("const b=Buffer.alloc(40<<20,1);setInterval(()=>{const t=Date.now();while(Date.now()-t<50){};b[0]++},100)")}` },
  }, Date.now())).id;
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const s = await openSse(`${ts.url}/accounts/projects/default/rooms/sbx/stream?token=${key}`);
  const alice = await ts.client("sbx", "alice");
  // A sample taken while node is still booting has CPU but not yet the buffer: wait for one
  // that counts it (a runtime that never counts resident memory times out here).
  const sample = await s.waitFor((e) => e.event === "stats" && e.data.service_id === id && e.data.cpu_percent > 0 && e.data.memory_bytes > 40 * 1024 * 1024, 30_000, "a sandbox stats sample with CPU and the 40 MiB buffer resident");
  assert.equal(sample.data.memory_limit_bytes, null);
  assert.equal(sample.data.session_id, alice.sessionId);
  const kept = await new sdk.Meshagent({ baseUrl: ts.url, token: key }).listSessionMetrics("default", alice.sessionId);
  assert.ok(kept.some((m: any) => m.service_id === id && m.memory_bytes > 0));
  s.close();
  await settle(alice);
  alice.dispose();
});
