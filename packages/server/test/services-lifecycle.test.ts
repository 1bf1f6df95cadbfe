import { test } from "node:test";
import assert from "node:assert/strict";
import { collectMessages, eventually, refusableClient, settle } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, labelled, execNode, docker, serviceToken, waitUntil } from "./services-env.ts";

const threeServices = async (env: Awaited<ReturnType<typeof startServicesServer>>, room: string) => {
  await env.addService(room, manifest("web", IMAGES.http, {
    container: { image: IMAGES.http, environment: [{ name: "PORT", value: "8080" }] },
    ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
  }));
  await env.addService(room, manifest("agent", IMAGES.chat));
  await env.addService(room, manifest("tcp", IMAGES.tcp, { ports: [{ num: 9000, type: "tcp" }] }));
};

test("the first participant starts three services in parallel; they become ready, reach each other and the Room API, and the agent's message arrives", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  await threeServices(env, "svc-room");

  const alice = await env.ts.client("svc-room", "alice");
  const box = collectMessages(alice);
  alice.messaging.enable();

  // The agent (new RoomClient() with only the injected env) greets the room.
  await eventually(() => box.messages.some((m) => m.type === "chat" && m.message.text === "hello from svc-room"), 30_000, "the agent's greeting");

  // All three ready, as the SDK's ServicesClient reports them.
  const ready = await waitUntil("all services running", async () => {
    const { services, serviceStates } = await alice.services.listWithState();
    const states = Object.values(serviceStates) as any[];
    return services.length === 3 && states.length === 3 && states.every((s) => s.state === "running") ? { services, serviceStates } : null;
  });
  assert.deepEqual(ready.services.map((s: any) => s.metadata.name).sort(), ["agent", "tcp", "web"]);
  const raw = await alice.invoke({ toolkit: "services", tool: "list", input: {} });
  const web = raw.json.service_states.find((s: any) => s.service_id === ready.services.find((x: any) => x.metadata.name === "web").id);
  assert.equal(web.ports[0].liveness_status, "ready");
  assert.ok(web.events.some((e: any) => e.reason === "Started"));

  // Started in parallel: every service's container was started before any became ready.
  const states = raw.json.service_states as any[];
  const starts = states.map((s) => s.started_at as number);
  const firstReady = Math.min(...states.map((s) => s.events.find((e: any) => e.reason === "Ready")?.first_timestamp ?? Infinity));
  assert.ok(Math.max(...starts) <= firstReady + 1000, "services were started together, not one after another");

  // They share 127.0.0.1: web reaches tcp, and the Room API answers on 8078.
  const webContainer = web.container_id as string;
  const viaTcp = await execNode(webContainer, "fetch('http://127.0.0.1:8080/tcp?port=9000').then(r=>r.text()).then(console.log)");
  assert.equal(viaTcp.out, "tcp says: pong", viaTcp.err);
  const viaApi = await execNode(webContainer, "fetch('http://127.0.0.1:8078/healthz').then(r=>r.text()).then(console.log)");
  assert.match(viaApi.out, /"ok":true/, viaApi.err);

  // The agent answers a chat message addressed to it.
  const agentP = await waitUntil("agent participant", () => alice.messaging.getParticipantByName("agent"));
  await alice.messaging.sendMessage({ to: agentP, type: "chat", message: { text: "ping" } });
  await eventually(() => box.messages.some((m) => m.message?.text === "you said: ping"), 10_000, "the agent's answer");
});

test("two rooms are isolated: no shared network, and room A's service token is refused by room B", async (t) => {
  const env = await startServicesServer();
  t.after(() => env.close());
  for (const room of ["iso-a", "iso-b"]) {
    await env.addService(room, manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  }
  const a = await env.ts.client("iso-a", "alice");
  const b = await env.ts.client("iso-b", "bob");
  const container = async (client: any) =>
    waitUntil("web running", async () => {
      const s = (await client.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states[0];
      return s?.state === "running" ? (s.container_id as string) : null;
    });
  const ca = await container(a);
  const cb = await container(b);

  // Each room's namespace has only a loopback interface: nothing routes to another room.
  const ifaces = await execNode(ca, "console.log(JSON.stringify(Object.keys(require('os').networkInterfaces())))");
  assert.deepEqual(JSON.parse(ifaces.out), ["lo"]);
  // Both rooms run a server on 8080, each seeing only its own room.
  const ra = JSON.parse((await execNode(ca, "fetch('http://127.0.0.1:8080/').then(r=>r.text()).then(console.log)")).out);
  const rb = JSON.parse((await execNode(cb, "fetch('http://127.0.0.1:8080/').then(r=>r.text()).then(console.log)")).out);
  assert.equal(ra.room, "iso-a");
  assert.equal(rb.room, "iso-b");
  // Room B's Room API port is unreachable from room A (ECONNREFUSED on A's own loopback for B's URL is not possible; the host is not routable).
  const toHost = await execNode(ca, "fetch('http://172.17.0.1:2375/').then(()=>console.log('reached')).catch(e=>console.log('unreachable', e.cause?.code ?? e.message))");
  assert.match(toHost.out, /unreachable/);

  // The service token of room A, used against room B, is refused with a reason.
  const tokenA = await serviceToken(ca);
  const intruder = refusableClient(`${env.ts.wsUrl}/rooms/iso-b`, tokenA);
  await assert.rejects(intruder.start(), /403.*token is for room "iso-a", not "iso-b"/);
});

test("after the last participant leaves, every container stops (a SIGTERM-ignoring one is killed at its grace period) and nothing labelled remains", async (t) => {
  // No pool here, so "nothing labelled remains" is literal.
  const env = await startServicesServer({ departureTimeoutMs: 300, poolSize: 0 });
  t.after(() => env.close());
  await env.addService("bye", manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  await env.addService("bye", manifest("stubborn", IMAGES.http, {
    container: { image: IMAGES.http, command: "/usr/local/bin/node -e \"process.on('SIGTERM',()=>console.log('ignoring SIGTERM'));setInterval(()=>{},1000)\"" },
    roomservice: { stop: { gracePeriodSeconds: 2 } },
  }));
  const alice = await env.ts.client("bye", "alice");
  await waitUntil("both running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st.length === 2 && st.every((s) => s.state === "running");
  });
  assert.ok(labelled(env.ownerId).length >= 3, "pause + two services exist while the session runs");
  const ended = new Promise<number>((resolve) => env.ts.server.rooms.events.on("event", (e) => e.type === "session.ended" && resolve(Date.now())));
  await settle(alice);
  alice.dispose();
  const endedAt = await ended;
  await waitUntil("no labelled container left", () => labelled(env.ownerId).length === 0, 30_000);
  const took = Date.now() - endedAt;
  t.diagnostic(`containers gone ${took} ms after the session ended (grace period 2000 ms)`);
  const stopLog = env.logs.join("");
  assert.ok(!/ECONN|unhandled/i.test(stopLog.split("\n").filter((l) => l.includes('"level":50')).join("\n")), "no errors logged while stopping");
  assert.equal(docker("network", "ls", "-q", "--filter", `label=dev.roomservice.owner=${env.ownerId}`).trim(), "");
});
