import { test } from "node:test";
import assert from "node:assert/strict";
import { settle } from "./helpers.ts";
import { defaultApiScope } from "../src/index.ts";
import { startServicesServer, manifest, IMAGES, execNode, waitUntil } from "./services-env.ts";

const web = (greeting: string) =>
  manifest("web", IMAGES.http, {
    container: { image: IMAGES.http, environment: [{ name: "GREETING", value: greeting }] },
    ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
  });

async function greetingOf(client: any): Promise<{ greeting: string; container: string }> {
  const st = await waitUntil("web running", async () => {
    const s = (await client.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states[0];
    return s?.state === "running" ? s : null;
  });
  const out = await execNode(st.container_id, "console.log(process.env.GREETING)");
  return { greeting: out.out, container: st.container_id };
}

test("a config edit during a session leaves it alone and applies at the next session; services.restart applies a room service's edit live", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 200 });
  t.after(() => env.close());
  const id = await env.addService("conf", web("v1"));

  const alice = await env.ts.client("conf", "alice");
  assert.equal((await greetingOf(alice)).greeting, "v1");

  // Edit during the session: the running container keeps v1.
  await env.ts.server.services.update(id, "web", web("v2"), Date.now());
  await new Promise((r) => setTimeout(r, 300));
  const during = await greetingOf(alice);
  assert.equal(during.greeting, "v1", "the session runs the snapshot taken at its start");
  const listed = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.services_json[0];
  assert.equal(listed.container.environment[0].value, "v1", "services.list shows the session's snapshot");

  // Next session: v2.
  const ended = new Promise((r) => env.ts.server.rooms.events.on("event", (e) => e.type === "session.ended" && r(e)));
  await settle(alice);
  alice.dispose();
  await ended;
  // services.restart needs admin.config (issue #12 item 3): a user token plus the admin grant.
  const bob = await env.ts.client("conf", "bob", { api: { ...defaultApiScope("user"), admin: {} } });
  assert.equal((await greetingOf(bob)).greeting, "v2");

  // restart applies an edit now, in the live session, through the SDK's ServicesClient.
  await env.ts.server.services.update(id, "web", web("v3"), Date.now());
  const before = await greetingOf(bob);
  await bob.services.restart({ serviceId: id });
  const after = await waitUntil("restarted with v3", async () => {
    const g = await greetingOf(bob);
    return g.greeting === "v3" ? g : null;
  });
  assert.notEqual(after.container, before.container, "a new container runs the new configuration");
  await assert.rejects(bob.services.restart({ serviceId: "no-such-service" }), /not configured for room conf/);

  // A disabled service is never started by a restart (the live one keeps its session's run).
  await env.ts.server.services.update(id, "web", { ...web("v4"), enabled: false }, Date.now());
  await assert.rejects(bob.services.restart({ serviceId: id }), /service web is disabled \(enabled: false in its manifest\), so it is not started/);
  assert.equal((await greetingOf(bob)).container, after.container, "the running container was left alone");
});
