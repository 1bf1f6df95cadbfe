/**
 * The chat panel's thread helpers (src/thread-doc.ts) on a real SDK document with the
 * server's thread schema: path convention, members listed once, messages appended as
 * `useChat` writes them (with `file` children), read back in order; busy status; the agents
 * offered (chat agents online plus those of the user's existing threads, never one that says
 * it does not chat); the voice example's spoken prefix.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { threadSchemaJson } from "../../server/src/toolkits/sync/schema.ts";
import { agentChoices, appendMessage, busyText, canChat, ensureMembers, readThread, splitSpoken, threadPath, type ThreadDoc } from "../src/thread-doc.ts";

const sdk = createRequire(import.meta.url)("@meshagent/meshagent");
const quiet = console.log;

function newThread(): ThreadDoc {
  return new sdk.MeshDocument({ schema: sdk.MeshSchema.fromJson(threadSchemaJson()) }) as ThreadDoc;
}

test("thread path: .threads/<agent>-<user>.thread, one file whatever the names hold", () => {
  assert.equal(threadPath("chat-agent", "alice"), ".threads/chat-agent-alice.thread");
  assert.equal(threadPath("agent", "apikey:studio-test"), ".threads/agent-apikey_studio-test.thread");
  assert.equal(threadPath("a/b", "c d"), ".threads/a_b-c_d.thread");
  assert.equal(threadPath("agent", "zoë"), ".threads/agent-zoë.thread");
});

test("members are listed once; messages are appended as useChat writes them and read back in order", (t) => {
  console.log = () => undefined; // the SDK logs every change it applies
  t.after(() => (console.log = quiet));
  const doc = newThread();
  assert.deepEqual(readThread(doc), { members: [], messages: [] }, "an empty document reads as an empty thread");
  assert.throws(() => appendMessage(doc, { id: "x", text: "x", authorName: "a", files: [], now: new Date() }), /no messages element/);
  ensureMembers(doc, [{ name: "alice", type: "user" }, { name: "agent", type: "agent" }]);
  ensureMembers(doc, [{ name: "agent", type: "agent" }, { name: "voice", type: null }]);
  assert.deepEqual(readThread(doc).members, [{ name: "alice", type: "user" }, { name: "agent", type: "agent" }, { name: "voice", type: null }]);
  const now = new Date("2026-01-02T03:04:05.000Z");
  appendMessage(doc, { id: "m1", text: "hello", authorName: "alice", files: [], now });
  appendMessage(doc, { id: "m2", text: "🔊 hello", authorName: "voice", files: ["voice/speech-1.wav"], now });
  assert.deepEqual(readThread(doc).messages, [
    { id: "m1", text: "hello", createdAt: now.toISOString(), authorName: "alice", files: [] },
    { id: "m2", text: "🔊 hello", createdAt: now.toISOString(), authorName: "voice", files: ["voice/speech-1.wav"] },
  ]);
  // The schema's own check agrees: author_ref is written as null, and it accepts it.
  const messages = doc.root.getChildren().find((c: any) => c.tagName === "messages") as any;
  assert.equal(messages.getChildren()[0].getAttribute("author_ref"), null);
});

test("busy text comes from the agent's thread.status attributes; agents offered: online plus existing threads", () => {
  const path = ".threads/agent-alice.thread";
  const attrs: Record<string, unknown> = { [`thread.status.text.${path}`]: "Thinking" };
  assert.equal(busyText((n) => attrs[n], path), "Thinking");
  assert.equal(busyText((n) => ({ [`thread.status.${path}`]: "Working" })[n], path), "Working", "older agents set only thread.status.<path>");
  assert.equal(busyText(() => null, path), null);
  assert.equal(busyText((n) => attrs[n], ".threads/other.thread"), null);
  const files = ["chat-agent-alice.thread", "crm-sync-alice.thread", "agent-bob.thread", "notes.txt", "-alice.thread"];
  assert.deepEqual(agentChoices(["voice", "chat-agent"], files, "alice"), ["chat-agent", "crm-sync", "voice"]);
  assert.deepEqual(agentChoices([], ["agent-apikey_k.thread"], "apikey:k"), ["agent"]);
  assert.deepEqual(agentChoices([], [], "alice"), []);
});

test("agents that chat: the ones with empty_state_title (MeshAgent's ChatBot sets it); their old threads are offered, a non-chat agent's are not", () => {
  const p = (role: string, attrs: Record<string, unknown>) => ({ role, getAttribute: (n: string) => attrs[n] });
  assert.equal(canChat(p("agent", { empty_state_title: "How can I help you?" })), true);
  assert.equal(canChat(p("agent", {})), false, "an agent that does not say it chats");
  assert.equal(canChat(p("agent", { empty_state_title: "" })), false);
  assert.equal(canChat(p("user", { empty_state_title: "hi" })), false, "people are not agents");
  const files = ["agent-alice.thread", "pipeline-alice.thread", "gone-alice.thread"];
  assert.deepEqual(agentChoices(["agent"], files, "alice", ["pipeline"]), ["agent", "gone"]);
});

test("spoken replies: the voice example's 🔊 prefix is split off for an icon", () => {
  assert.deepEqual(splitSpoken("\u{1F50A} hello there"), { spoken: true, text: "hello there" });
  assert.deepEqual(splitSpoken("\u{1F50A}\uFE0F hi"), { spoken: true, text: "hi" });
  assert.deepEqual(splitSpoken("plain \u{1F50A} inside"), { spoken: false, text: "plain \u{1F50A} inside" });
  assert.deepEqual(splitSpoken(""), { spoken: false, text: "" });
});
