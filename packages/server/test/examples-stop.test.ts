import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseManifest } from "@roomservice/manifest";
import { startServicesServer, IMAGES, waitUntil } from "./services-env.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/** An example's own meshagent.yaml, with the test's image tag and (for the CRM pair) a key. */
function exampleManifest(dir: string, image: string): Record<string, unknown> {
  const r = parseManifest(readFileSync(`${root}/examples/${dir}/meshagent.yaml`, "utf8"));
  assert.ok(r.ok, `examples/${dir}/meshagent.yaml is valid`);
  const raw = structuredClone(r.raw) as { container: { image: string } };
  raw.container.image = image;
  return raw;
}

const EXAMPLES: [string, keyof typeof IMAGES][] = [
  ["chat-agent", "chat"], ["crm-sync", "crm"], ["crm-standin", "crmStandin"], ["http-echo", "http"], ["mcp-tools", "mcp"],
  ["pipeline", "pipeline"], ["queue-worker", "queue"], ["secret-reader", "secret"], ["tcp-echo", "tcp"],
];

test("every example stops gracefully when its session ends: exit code 0, not 143 (SIGTERM) or 137 (SIGKILL)", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 200 });
  t.after(() => env.close());
  const ts = env.ts;
  await ts.server.secrets.set("default", null, "crm-api-key", "opaque", Buffer.from("k"), Date.now());
  await ts.server.secrets.set("default", null, "third-party-api-key", "opaque", Buffer.from("k"), Date.now());
  const ids = new Map<string, string>();
  for (const [dir, key] of EXAMPLES) ids.set(dir, await env.addService("stops", exampleManifest(dir, IMAGES[key])));

  const alice = await ts.client("stops", "alice");
  await alice.messaging.enable();
  const sid = alice.sessionId as string;
  // Everything is running, and the agents have joined the room (their SIGTERM handlers are set).
  await waitUntil("all examples ready", async () => {
    const live = await ts.server.activity.snapshot("stops");
    return live.services.length === EXAMPLES.length && live.services.every((s) => s.state === "ready");
  }, 120_000);
  // "ready" for the agents means joined (their readiness endpoints answer 200 only then): they
  // are in the room as soon as they are ready, not 20 s later on a cold session.
  await waitUntil("agents joined", () => ["chat-agent", "crm-sync", "pipeline"].every((n) => alice.messaging.remoteParticipants.some((p: any) => p.getAttribute("name") === n)), 5_000);

  ts.server.rooms.get("stops")!.endSession("terminated");
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const exits = await waitUntil("every example exited", async () => {
    const r = await fetch(`${ts.url}/accounts/projects/default/sessions/${sid}/events`, { headers: { authorization: `Bearer ${key}` } });
    const events = ((await r.json()) as { events: { reason: string; message: string; service_name?: string }[] }).events;
    const exited = events.filter((e) => e.reason === "Exited");
    return exited.length >= EXAMPLES.length ? exited : undefined;
  }, 60_000);
  const byName = Object.fromEntries(EXAMPLES.map(([dir]) => [dir, exits.find((x) => x.service_name === dir)?.message ?? "(no Exited event)"]));
  assert.deepEqual(byName, Object.fromEntries(EXAMPLES.map(([dir]) => [dir, "Container exited with code 0"])));
});

test("chat-agent greets each person once, to them alone; other agents are not greeted", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 200 });
  t.after(() => env.close());
  const ts = env.ts;
  await env.addService("greet", exampleManifest("chat-agent", IMAGES.chat));
  const inbox = (client: any) => {
    const texts: string[] = [];
    client.messaging.on("message", (e: any) => {
      if (e.message.type === "chat" && typeof e.message.message?.text === "string") texts.push(e.message.message.text);
    });
    return texts;
  };
  const alice = await ts.client("greet", "alice");
  const aliceGot = inbox(alice);
  await alice.messaging.enable();
  await waitUntil("alice greeted", () => aliceGot.includes("hello from greet") && aliceGot.some((x) => x.startsWith("No model is configured")), 90_000);
  // Another agent joins, then another person.
  const bot = await ts.client("greet", "helper-bot", { role: "agent" });
  const botGot = inbox(bot);
  await bot.messaging.enable();
  const bob = await ts.client("greet", "bob");
  const bobGot = inbox(bob);
  await bob.messaging.enable();
  await waitUntil("bob greeted", () => bobGot.includes("hello from greet") && bobGot.some((x) => x.startsWith("No model is configured")), 30_000);
  // A message that goes through the agent after the greetings: everything before it has arrived.
  const agent = alice.messaging.remoteParticipants.find((p: any) => p.getAttribute("name") === "chat-agent");
  await alice.messaging.sendMessage({ to: agent, type: "chat", message: { text: "ping" } });
  await waitUntil("the agent's answer", () => aliceGot.includes("you said: ping"), 30_000);

  const count = (texts: string[], p: (x: string) => boolean) => texts.filter(p).length;
  assert.equal(count(aliceGot, (x) => x === "hello from greet"), 1, JSON.stringify(aliceGot));
  assert.equal(count(aliceGot, (x) => x.startsWith("No model is configured")), 1, JSON.stringify(aliceGot));
  assert.equal(count(bobGot, (x) => x === "hello from greet"), 1, JSON.stringify(bobGot));
  assert.deepEqual(botGot, [], "the other agent got no greeting");
});
