import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { eventually, settle } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil, labelled } from "./services-env.ts";
import { THREAD_SCHEMA_PATH } from "../src/toolkits/sync/index.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

// The SDK prints every document change with console.log (agent-kit's filter, as the example agents use it).
quietDocumentChangeLog();

function messagesOf(doc: any): any[] {
  return doc.root.getChildren().find((c: any) => c.tagName === "messages")?.getChildren() ?? [];
}

test("the example chat agent (a service container) answers in the thread document, streaming token by token, with busy status; the thread persists across sessions", { timeout: 180_000 }, async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const room = "chat-room";
  const agentId = await env.addService(room, manifest("agent", IMAGES.chat, { container: { image: IMAGES.chat, environment: [{ name: "WORD_DELAY_MS", value: "50" }] } }));

  const alice = await env.ts.client(room, "alice");
  const firstSession = alice.sessionId as string;
  await alice.messaging.enable();
  const agent = await waitUntil("the agent participant", () => alice.messaging.getParticipantByName("agent"), 60_000);
  await eventually(() => alice.storage.exists(THREAD_SCHEMA_PATH), 5000, "the seeded thread schema");

  // What MeshAgent's useChat does: open the thread, list the members, append a message,
  // and send `chat` to the online members.
  const path = ".threads/agent-alice.thread";
  const doc = await alice.sync.open(path);
  const members = doc.root.getChildren().find((c: any) => c.tagName === "members");
  members.createChildElement("member", { name: "alice" });
  members.createChildElement("member", { name: "agent" });
  const list = doc.root.getChildren().find((c: any) => c.tagName === "messages");
  list.createChildElement("message", { id: "m1", text: "hello there agent", created_at: new Date().toISOString(), author_name: "alice", author_ref: null });

  const texts: string[] = [];
  let busySeen = false;
  doc.listen(() => {
    const reply = messagesOf(doc).find((m) => m.getAttribute("author_name") === "agent");
    const text = reply?.getAttribute("text");
    if (typeof text === "string" && texts[texts.length - 1] !== text) texts.push(text);
    if (agent.getAttribute(`thread.status.text.${path}`) === "Thinking") busySeen = true;
  });
  await alice.messaging.sendMessage({ to: agent, type: "chat", message: { path, text: "hello there agent", attachments: [] } });

  const expected = "you said: hello there agent";
  await eventually(() => texts[texts.length - 1] === expected, 30_000, "the agent's reply in the thread");
  assert.ok(texts.length >= 4, `the reply grew token by token (${JSON.stringify(texts)})`);
  for (let i = 1; i < texts.length; i++) assert.ok(texts[i]!.startsWith(texts[i - 1]!), `each step extends the last (${JSON.stringify(texts)})`);
  assert.ok(busySeen, "the agent published thread.status.text while answering");
  await eventually(() => agent.getAttribute(`thread.status.text.${path}`) == null, 10_000, "busy status cleared");
  assert.ok(messagesOf(doc).length === 2);

  // Next session: the thread is still there, with both messages.
  await alice.sync.close(path);
  await settle(alice);
  alice.dispose();
  await eventually(() => env.ts.server.rooms.get(room) === undefined, 30_000, "the session to end");
  // The agent's log has its own lines, not the SDK's per-change dump of the thread (agent-kit's
  // quietDocumentChangeLog): the session's log file is complete once the session has ended.
  const agentLog = await readFile(env.ts.server.launcher.sessionLogFile(room, firstSession, agentId), "utf8");
  assert.match(agentLog, /chat-agent connected to chat-room/);
  assert.doesNotMatch(agentLog, /Applying changes to doc/);
  const bob = await env.ts.client(room, "bob");
  const again = await bob.sync.open(path);
  assert.deepEqual(messagesOf(again).map((m) => [m.getAttribute("author_name"), m.getAttribute("text")]), [["alice", "hello there agent"], ["agent", expected]]);
  await bob.sync.close(path);
  await settle(bob);
  bob.dispose();
  // Let the session end and its containers go before the runtime reaps what is left.
  await eventually(() => env.ts.server.rooms.get(room) === undefined, 30_000, "the second session to end");
  await waitUntil("the agent's containers removed", () => labelled(env.ownerId, room).length === 0, 60_000);
});
