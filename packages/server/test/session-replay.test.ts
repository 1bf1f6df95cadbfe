import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, sdk, settle, startTestServer } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil } from "./services-env.ts";
import { openSse } from "./sse-client.ts";
import { liveHeapBytes } from "./heap.ts";

const node = (code: string) => `/usr/local/bin/node -e ${JSON.stringify(code)}`;
/** Response bodies are whatever JSON the route answers. */
const anyJson = (v: unknown): any => v;

/** Collects a client's developer log stream entries ({type, data}). */
function developerLog(client: any): { type: string; data: any }[] {
  const out: { type: string; data: any }[] = [];
  void (async () => {
    for await (const e of client.developer.logs()) out.push({ type: e.type, data: e.data });
  })().catch(() => undefined);
  return out;
}

test("an ended session replays: participants, a timeline with the crash loop's exits and back-offs, FailedStart with the next step, kept logs and metrics; every service event reached the developer stream", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 300, server: { activityLimits: { statsIntervalMs: 500 } } });
  t.after(() => env.close());
  const ts = env.ts;
  const webId = await env.addService("replay", manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  const crashId = await env.addService("replay", manifest("crasher", IMAGES.http, {
    container: { image: IMAGES.http, command: node("console.log('starting'); setTimeout(() => process.exit(3), 50)") },
    roomservice: { restart: { policy: "always", initialBackoffSeconds: 0.2, maxBackoffSeconds: 1 } },
  }));
  const ghostId = await env.addService("replay", manifest("ghost", "roomservice-example/does-not-exist:1"));
  const m = new sdk.Meshagent({ baseUrl: ts.url, token: (await ts.server.apiKeys.create("default", "k", Date.now())).key });

  const alice = await ts.client("replay", "alice");
  const sid = alice.sessionId as string;
  const dev = developerLog(alice);

  // Failures show where people look: the developer stream (issue #12 case 17).
  const failed = await waitUntil("FailedStart on the developer stream", () => dev.find((e) => e.type === "service.event" && e.data.reason === "FailedStart" && e.data.service_id === ghostId), 30_000);
  assert.match(failed.data.message, /roomservice image build/);
  assert.equal(failed.data.session_id, sid);
  await waitUntil("BackOff on the developer stream", () => dev.some((e) => e.type === "service.event" && e.data.reason === "BackOff" && e.data.service_id === crashId), 30_000);
  await waitUntil("Exited on the developer stream", () => dev.some((e) => e.type === "service.event" && e.data.reason === "Exited" && /code 3/.test(e.data.message)), 30_000);
  await waitUntil("crasher's line on the developer stream", () => dev.some((e) => e.type === "service.log" && e.data.line === "starting" && e.data.session_id === sid), 30_000);
  await waitUntil("web samples kept", async () => (await m.listSessionMetrics("default", sid)).some((s: any) => s.service_id === webId && s.memory_bytes > 0), 30_000);

  await settle(alice);
  alice.dispose();
  await eventually(async () => (await ts.server.ctx.sessions.get(sid))?.endedAt !== null && ts.server.activity.held.sessions === 0, 30_000, "session ended and its services stopped");

  const s = await m.getSession("default", sid);
  assert.equal(s.is_active, false);
  assert.equal(s.end_reason, "departure_timeout");
  assert.deepEqual(s.participants_detail.map((p: any) => [p.name, p.left_at !== null]), [["alice", true]]);
  assert.deepEqual(s.services.map((x: any) => x.name).sort(), ["crasher", "ghost", "web"]);

  const events = await m.listSessionEvents("default", sid);
  const reasons = (id?: string) => events.filter((e: any) => e.service_id === id).map((e: any) => e.reason);
  assert.equal(events[0].reason, "SessionStarted");
  assert.equal(events.at(-1).reason === "SessionEnded" || events.some((e: any) => e.reason === "SessionEnded"), true);
  for (const r of ["Created", "Started", "Ready", "Killing"]) assert.ok(reasons(webId).includes(r), `web ${r} in ${reasons(webId)}`);
  assert.ok(reasons(crashId).includes("BackOff"), reasons(crashId).join());
  const exited = events.find((e: any) => e.service_id === crashId && e.reason === "Exited");
  assert.match(exited.message, /exited with code 3/);
  assert.equal(exited.type, "Warning");
  const ghost = events.find((e: any) => e.service_id === ghostId && e.reason === "FailedStart");
  assert.match(ghost.message, /roomservice image build .* -t roomservice-example\/does-not-exist:1/);
  assert.ok(events.some((e: any) => e.reason === "ParticipantJoined" && e.participant.name === "alice"));
  assert.ok(events.every((e: any) => e.session_id === sid));

  const kept = await (await fetch(`${ts.url}/accounts/projects/default/sessions/${sid}/logs?service=${crashId}`, { headers: { authorization: `Bearer ${m.token}` } })).json().then(anyJson);
  assert.ok(kept.lines.length >= 1, "the crasher's output is kept");
  assert.ok(kept.lines.every((l: any) => l.text === "starting" && l.session_id === sid && l.service_name === "crasher" && l.stream === "stdout"));
  const all = await (await fetch(`${ts.url}/accounts/projects/default/sessions/${sid}/logs`, { headers: { authorization: `Bearer ${m.token}` } })).json().then(anyJson);
  assert.ok(all.lines.some((l: any) => l.service_id === webId && /listening on 8080/.test(l.text)));
  assert.ok(all.lines.every((l: any, i: number) => i === 0 || l.seq > all.lines[i - 1].seq), "lines of all services in order");

  const metrics = await m.listSessionMetrics("default", sid);
  const web = metrics.filter((x: any) => x.service_id === webId);
  assert.ok(web.length >= 1 && web.every((x: any) => x.memory_bytes > 0 && x.cpu_percent >= 0 && x.session_id === sid));
  // `after` and `limit` (what Studio asks after its stream reconnected): later samples, the newest N.
  const metricsQuery = async (q: string) => {
    const r = await fetch(`${ts.url}/accounts/projects/default/sessions/${sid}/metrics?${q}`, { headers: { authorization: `Bearer ${m.token}` } });
    return { status: r.status, body: await r.json().then(anyJson) };
  };
  const samples = (await metricsQuery(`service=${webId}`)).body.metrics;
  assert.deepEqual((await metricsQuery(`service=${webId}&after=${encodeURIComponent(samples[0].at)}`)).body.metrics, samples.slice(1));
  assert.deepEqual((await metricsQuery(`service=${webId}&limit=1`)).body.metrics, samples.slice(-1));
  const bad = await metricsQuery("after=yesterday");
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /^after: expected an ISO 8601 time/);

  // Validation says "valid" for the ghost's manifest, with a warning that its image is missing.
  const validate = (image: string) =>
    fetch(`${ts.url}/accounts/projects/default/services/validate`, {
      method: "POST", headers: { authorization: `Bearer ${m.token}`, "content-type": "application/json" },
      body: JSON.stringify({ yaml: `version: v1\nkind: Service\nmetadata:\n  name: g\ncontainer:\n  image: ${image}\n` }),
    }).then((r) => r.json()).then(anyJson);
  const missing = await validate("roomservice-example/does-not-exist:1");
  assert.equal(missing.ok, true);
  assert.ok(missing.warnings.some((w: any) => w.path === "container.image" && /roomservice image build/.test(w.message)), JSON.stringify(missing.warnings));
  const present = await validate(IMAGES.http);
  assert.ok(!present.warnings.some((w: any) => w.path === "container.image"));
});

test("output a service prints during its grace period after session A never reaches session B's streams; it is kept with session A", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 100 });
  t.after(() => env.close());
  const ts = env.ts;
  await env.addService("handover", manifest("lingerer", IMAGES.http, {
    container: {
      image: IMAGES.http,
      command: node("console.log('hello');setInterval(()=>{},1000);process.on('SIGTERM',()=>{let i=0;const t=setInterval(()=>{console.log('bye '+(i++));if(i>20){clearInterval(t);process.exit(0)}},100)})"),
    },
    roomservice: { stop: { gracePeriodSeconds: 10 } },
  }));
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const stream = await openSse(`${ts.url}/accounts/projects/default/rooms/handover/stream?token=${key}`);

  const alice = await ts.client("handover", "alice");
  const a = alice.sessionId as string;
  await stream.waitFor((e) => e.event === "log" && e.data.text === "hello" && e.data.session_id === a, 30_000, "hello from A");
  await settle(alice);
  alice.dispose();
  await stream.waitFor((e) => e.event === "session" && e.data.action === "ended" && e.data.session_id === a, 10_000, "A ended");
  // While A's service says goodbye, session B starts.
  await stream.waitFor((e) => e.event === "log" && /^bye/.test(e.data.text), 10_000, "A's goodbye begins");
  const bob = await ts.client("handover", "bob");
  const b = bob.sessionId as string;
  assert.notEqual(a, b);
  const dev = developerLog(bob);
  const streamB = await openSse(`${ts.url}/accounts/projects/default/rooms/handover/stream?token=${key}`);
  await stream.waitFor((e) => e.event === "log" && e.data.text === "hello" && e.data.session_id === b, 30_000, "hello from B");

  // A's service finished its goodbye (it is kept with A).
  await waitUntil("A's last goodbye kept", async () => {
    const r = await fetch(`${ts.url}/accounts/projects/default/sessions/${a}/logs`, { headers: { authorization: `Bearer ${key}` } }).then((x) => x.json()).then(anyJson);
    return r.lines.some((l: any) => l.text === "bye 20");
  }, 20_000);
  const keptA = await (await fetch(`${ts.url}/accounts/projects/default/sessions/${a}/logs`, { headers: { authorization: `Bearer ${key}` } })).json().then(anyJson);
  assert.ok(keptA.lines.every((l: any) => l.session_id === a));
  const keptB = await (await fetch(`${ts.url}/accounts/projects/default/sessions/${b}/logs`, { headers: { authorization: `Bearer ${key}` } })).json().then(anyJson);
  assert.deepEqual(keptB.lines.map((l: any) => l.text), ["hello"], "B's log holds only B's output");

  // Once B started, the room's streams carry nothing of A.
  const bStart = stream.events.findIndex((e) => e.event === "session" && e.data.action === "started" && e.data.session_id === b);
  assert.ok(bStart > 0);
  const afterB = stream.events.slice(bStart).filter((e) => e.data?.session_id !== undefined && e.event !== "session");
  assert.ok(afterB.length > 0);
  assert.deepEqual(afterB.filter((e) => e.data.session_id !== b).map((e) => `${e.event}:${e.data.text ?? e.data.reason}`), []);
  assert.ok(streamB.events.filter((e) => e.event === "log").every((e) => e.data.session_id === b));
  assert.deepEqual(dev.filter((e) => e.data.session_id !== b || /^bye/.test(e.data.line ?? "")), [], "B's developer stream has nothing of A");
  stream.close();
  streamB.close();
  await settle(bob);
  bob.dispose();
});

test("200 sessions: everything kept per room and session is released when each ends; the heap returns near its baseline", async (t) => {
  const ts = await startTestServer({ departureTimeoutMs: 0 });
  t.after(() => ts.close());
  // A configured service with no runtime: every session records a FailedStart, state and events.
  await ts.server.services.create("default", null, "agent", { version: "v1", kind: "Service", metadata: { name: "agent" }, container: { image: "x/agent:1" } }, Date.now());
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;

  const oneSession = async (i: number) => {
    const room = `leak-${i % 20}`;
    // Not ts.client(): it keeps every client for cleanup, which would hold 200 of them here.
    const c = new sdk.RoomClient({
      protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${ts.wsUrl}/rooms/${room}`, token: await ts.token(room, `user-${i}`) }),
      reconnectTimeout: 0,
    });
    await c.start();
    const s = await openSse(`${ts.url}/accounts/projects/default/rooms/${room}/stream?token=${key}`);
    await s.waitFor((e) => e.event === "snapshot", 5000);
    s.close();
    await settle(c);
    c.dispose();
    await eventually(() => ts.server.rooms.get(room) === undefined && ts.server.activity.held.sessions === 0, 5000, `session ${i} over`);
  };
  for (let i = 0; i < 20; i++) await oneSession(i);
  await eventually(() => ts.server.streams.size === 0, 5000, "streams closed");
  const baseline = await liveHeapBytes();
  for (let i = 20; i < 220; i++) await oneSession(i);
  await eventually(() => ts.server.streams.size === 0 && ts.server.activity.held.feeds === 0, 5000, "streams closed");

  assert.deepEqual(ts.server.activity.held, { feeds: 0, sessions: 0, items: 0 });
  assert.equal(ts.server.rooms.list().length, 0);
  assert.equal(ts.server.launcher.liveSession("leak-0"), undefined);
  const growth = (await liveHeapBytes()) - baseline;
  t.diagnostic(`live heap after 200 more sessions: ${(growth / 1048576).toFixed(2)} MiB over the baseline`);
  assert.ok(growth < 3 * 1024 * 1024, `live heap grew ${growth} bytes over 200 sessions`);
  // ...while what a session leaves behind is on disk.
  const recent = await (await fetch(`${ts.url}/accounts/projects/default/sessions?limit=1000`, { headers: { authorization: `Bearer ${key}` } })).json().then(anyJson);
  assert.equal(recent.sessions.length, 220);
  const events = await (await fetch(`${ts.url}/accounts/projects/default/sessions/${recent.sessions[0].id}/events`, { headers: { authorization: `Bearer ${key}` } })).json().then(anyJson);
  assert.ok(events.events.some((e: any) => e.reason === "FailedStart"));
});
