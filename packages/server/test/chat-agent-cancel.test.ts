/**
 * docs/chat.md's `cancel {path}` notice: the example chat agent (a real container) stops the
 * reply in progress — the message keeps what was written so far, no `chat` notice announces
 * it — and clears its busy status.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, settle } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil } from "./services-env.ts";
import { THREAD_SCHEMA_PATH } from "../src/toolkits/sync/index.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

quietDocumentChangeLog();

const messagesOf = (doc: any): any[] => doc.root.getChildren().find((c: any) => c.tagName === "messages")?.getChildren() ?? [];

test("the example chat agent stops a reply on cancel {path}, keeps its text so far, and clears its busy status", { timeout: 180_000 }, async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const room = "cancel-room";
  // A slow built-in responder: the whole reply would take 40 words × 250 ms.
  await env.addService(room, manifest("agent", IMAGES.chat, { container: { image: IMAGES.chat, environment: [{ name: "WORD_DELAY_MS", value: "250" }] } }));
  const alice = await env.ts.client(room, "alice");
  await alice.messaging.enable();
  const agent = await waitUntil("the agent participant", () => alice.messaging.getParticipantByName("agent"), 60_000);
  await eventually(() => alice.storage.exists(THREAD_SCHEMA_PATH), 5000, "the seeded thread schema");
  const notices: any[] = [];
  alice.messaging.on("message", (e: any) => {
    if (e.message.type === "chat" && e.message.message?.path !== undefined) notices.push(e.message.message);
  });

  const path = ".threads/agent-alice.thread";
  const doc = await alice.sync.open(path);
  const members = doc.root.getChildren().find((c: any) => c.tagName === "members");
  members.createChildElement("member", { name: "alice" });
  members.createChildElement("member", { name: "agent" });
  const question = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
  doc.root.getChildren().find((c: any) => c.tagName === "messages")
    .createChildElement("message", { id: "m1", text: question, created_at: new Date().toISOString(), author_name: "alice", author_ref: null });
  await alice.messaging.sendMessage({ to: agent, type: "chat", message: { path, text: question, attachments: [] } });

  const replyText = () => messagesOf(doc).find((m) => m.getAttribute("author_name") === "agent")?.getAttribute("text") ?? "";
  await eventually(() => replyText().length > 0, 30_000, "the reply to start streaming");
  assert.equal(agent.getAttribute(`thread.status.text.${path}`), "Thinking");
  await alice.messaging.sendMessage({ to: agent, type: "cancel", message: { path } });

  await eventually(() => agent.getAttribute(`thread.status.text.${path}`) == null, 20_000, "busy status cleared after cancel");
  const full = `you said: ${question}`;
  const kept = replyText();
  assert.ok(kept.length > 0 && full.startsWith(kept) && kept !== full, `the reply stopped part way (${JSON.stringify(kept)})`);
  // The agent's notices reach alice before its attribute change (one connection, in order).
  assert.equal(notices.length, 0, `a cancelled reply is not announced (${JSON.stringify(notices)})`);

  // The agent still answers the next question in full.
  doc.root.getChildren().find((c: any) => c.tagName === "messages")
    .createChildElement("message", { id: "m2", text: "again", created_at: new Date().toISOString(), author_name: "alice", author_ref: null });
  await alice.messaging.sendMessage({ to: agent, type: "chat", message: { path, text: "again", attachments: [] } });
  await eventually(() => notices.some((n) => n.text === "you said: again"), 30_000, "the next reply, announced");
  assert.ok(messagesOf(doc).some((m) => m.getAttribute("author_name") === "agent" && m.getAttribute("text") === "you said: again"));
  await alice.sync.close(path);
  await settle(alice);
});
