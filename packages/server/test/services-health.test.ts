import { test } from "node:test";
import assert from "node:assert/strict";
import { collectMessages, eventually } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil } from "./services-env.ts";

const node = (code: string) => `/usr/local/bin/node -e ${JSON.stringify(code)}`;

test("crash loops back off with growing delays and events; a failing liveness probe restarts; a memory hog is OOMKilled; the room keeps working", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const crash = await env.addService("health", manifest("crasher", IMAGES.http, {
    container: { image: IMAGES.http, command: node("console.log('starting'); setTimeout(() => process.exit(3), 50)") },
    roomservice: { restart: { policy: "always", initialBackoffSeconds: 0.2, maxBackoffSeconds: 2 } },
  }));
  const sick = await env.addService("health", manifest("sick", IMAGES.http, {
    // Healthy for a moment, then /healthz fails: the liveness probe must restart it.
    container: {
      image: IMAGES.http,
      command: node("const t=Date.now();require('http').createServer((q,s)=>{s.statusCode=Date.now()-t<1500?200:500;s.end()}).listen(8090)"),
    },
    ports: [{ num: 8090, type: "http" }],
    roomservice: {
      probes: { liveness: { httpGet: { path: "/healthz", port: 8090 }, periodSeconds: 0.3, failureThreshold: 2 } },
      restart: { policy: "always", initialBackoffSeconds: 0.2, maxBackoffSeconds: 1 },
    },
  }));
  const hog = await env.addService("health", manifest("hog", IMAGES.http, {
    container: { image: IMAGES.http, command: node("const a=[];setInterval(()=>{for(let i=0;i<20;i++)a.push(Buffer.alloc(1<<20,1))},10)") },
    roomservice: { resources: { memory: "64Mi" }, restart: { policy: "never" } },
  }));

  const alice = await env.ts.client("health", "alice");
  const bob = await env.ts.client("health", "bob");
  const state = async (id: string) =>
    ((await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[]).find((s) => s.service_id === id);

  // Crash loop: restart_count grows and BackOff events carry growing delays.
  const crashed = await waitUntil("crasher restarted 3 times", async () => {
    const s = await state(crash);
    return s.restart_count >= 3 ? s : null;
  });
  const backoffs = crashed.events.filter((e: any) => e.reason === "BackOff");
  assert.ok(backoffs.length >= 2, `BackOff events: ${JSON.stringify(crashed.events)}`);
  const delays = backoffs.map((e: any) => Number(/(\d+)\s*ms/.exec(e.message)?.[1] ?? NaN));
  assert.ok(delays.every((d: number) => Number.isFinite(d)), `BackOff messages name the delay: ${JSON.stringify(backoffs)}`);
  assert.ok(delays[delays.length - 1]! > delays[0]!, `delays grow: ${delays}`);
  assert.equal(crashed.last_exit_code, 3);

  // Liveness failure → Unhealthy + Killing → a new container.
  const healed = await waitUntil("sick restarted by liveness", async () => {
    const s = await state(sick);
    return s.restart_count >= 1 && s.events.some((e: any) => e.reason === "Unhealthy") ? s : null;
  });
  assert.ok(healed.events.some((e: any) => e.reason === "Killing"));

  // OOM: reported as such.
  const oom = await waitUntil("hog OOMKilled", async () => {
    const s = await state(hog);
    return s.events.some((e: any) => e.reason === "OOMKilled") ? s : null;
  });
  assert.equal(oom.last_exit_code, 137);

  // Meanwhile the room works: a message round trip.
  const box = collectMessages(bob);
  alice.messaging.enable();
  bob.messaging.enable();
  await eventually(() => alice.messaging.getParticipantByName("bob") !== null, 5000, "presence");
  await alice.messaging.broadcastMessage({ type: "still-here", message: {} });
  await eventually(() => box.messages.some((m) => m.type === "still-here"), 5000, "message during crash loops");
});

test("a missing image and a manifest that cannot launch become FailedStart events; the server keeps serving", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const missing = await env.addService("bad", manifest("ghost", "roomservice-example/does-not-exist:1"));
  const noSecret = await env.addService("bad", manifest("needs-secret", IMAGES.http, {
    container: { image: IMAGES.http, environment: [{ name: "TOKEN", secret: { id: "never-created" } }] },
  }));
  const ok = await env.addService("bad", manifest("fine", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  const alice = await env.ts.client("bad", "alice");
  const states = await waitUntil("failures reported and the good one running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    const by = (id: string) => st.find((s) => s.service_id === id);
    return by(missing)?.state === "failed" && by(noSecret)?.state === "failed" && by(ok)?.state === "running" ? { by } : null;
  });
  const ghost = states.by(missing);
  assert.match(ghost.last_start_error, /image roomservice-example\/does-not-exist:1 not found.*roomservice image build .* -t roomservice-example\/does-not-exist:1/);
  assert.ok(ghost.events.some((e: any) => e.reason === "FailedStart" && e.type === "Warning"));
  assert.match(states.by(noSecret).last_start_error, /secret "never-created" \(for TOKEN\) does not exist/);
  // The SDK's parser accepts all of it.
  const { serviceStates } = await alice.services.listWithState();
  assert.equal(Object.keys(serviceStates).length, 3);
  // And the server still serves.
  assert.equal(await alice.storage.exists("nothing"), false);
});
