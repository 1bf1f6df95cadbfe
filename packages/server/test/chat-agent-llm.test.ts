import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { eventually, settle } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil, docker, execNode } from "./services-env.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

// The SDK prints every document change with console.log (agent-kit's filter, as the example agents use it).
quietDocumentChangeLog();

const KEY = "sk-provider-" + Math.random().toString(36).slice(2, 14);
const ANSWER = ["Paris", " is", " the", " capital", " of", " France", "."];

/**
 * A local OpenAI-compatible upstream (what `roomservice llm set --base-url` points at): it
 * refuses any key but KEY, records the requests, and streams ANSWER one chunk at a time.
 */
async function startUpstream(): Promise<{ url: string; requests: { auth: string | undefined; body: any }[]; close(): Promise<void> }> {
  const requests: { auth: string | undefined; body: any }[] = [];
  const srv: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text === "" ? null : JSON.parse(text);
    requests.push({ auth: req.headers.authorization, body });
    if (req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "invalid key" } }));
      return;
    }
    if (req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [{ id: "stub-model" }] }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (const piece of ANSWER) {
      res.write(`data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
      await new Promise((r) => setTimeout(r, 30));
    }
    res.write(`data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 21, completion_tokens: 7 } })}\n\n`);
    res.end("data: [DONE]\n\n");
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1`, requests, close: () => new Promise((r) => srv.close(() => r())) };
}

function messagesOf(doc: any): any[] {
  return doc.root.getChildren().find((c: any) => c.tagName === "messages")?.getChildren() ?? [];
}

test("the chat agent answers from the operator's model through the LLM proxy, streamed into the thread with the thread as context; the provider's key never enters its container", { timeout: 240_000 }, async (t) => {
  const up = await startUpstream();
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(async () => {
    await env.close();
    await up.close();
  });
  const ts = env.ts;
  await ts.server.secrets.set("default", null, "openai-key", "opaque", Buffer.from(KEY), Date.now());
  const admin = (await ts.server.apiKeys.create("default", "t", Date.now())).key;
  const put = await fetch(`${ts.url}/accounts/projects/default/llm`, {
    method: "PUT",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ base_url: up.url, api_key_secret: "openai-key" }),
  });
  assert.equal(put.status, 200, await put.text());

  const room = "llm-room";
  await env.addService(room, manifest("agent", IMAGES.chat, { container: { image: IMAGES.chat, environment: [{ name: "OPENAI_MODEL", value: "stub-model" }] } }));
  const alice = await ts.client(room, "alice");
  await alice.messaging.enable();
  const notices: string[] = [];
  alice.messaging.on("message", (e: any) => {
    if (e.message.type === "chat" && typeof e.message.message?.text === "string") notices.push(e.message.message.text);
  });
  const agent = await waitUntil("the agent participant", () => alice.messaging.getParticipantByName("agent"), 60_000);

  const path = ".threads/agent-alice.thread";
  const doc = await alice.sync.open(path);
  doc.root.getChildren().find((c: any) => c.tagName === "members").createChildElement("member", { name: "alice" });
  const list = doc.root.getChildren().find((c: any) => c.tagName === "messages");
  list.createChildElement("message", { id: "m1", text: "What is the capital of France?", created_at: new Date().toISOString(), author_name: "alice", author_ref: null });
  const texts: string[] = [];
  doc.listen(() => {
    const text = messagesOf(doc).find((m) => m.getAttribute("author_name") === "agent")?.getAttribute("text");
    if (typeof text === "string" && texts[texts.length - 1] !== text) texts.push(text);
  });
  await alice.messaging.sendMessage({ to: agent, type: "chat", message: { path, text: "What is the capital of France?", attachments: [] } });

  await eventually(() => texts[texts.length - 1] === ANSWER.join(""), 60_000, "the model's answer in the thread");
  assert.ok(texts.length >= 3, `the answer was streamed into the thread (${JSON.stringify(texts)})`);
  // The upstream saw the operator's key (never the agent's token) and the thread as context.
  const chat = up.requests.filter((r) => r.body?.messages !== undefined);
  assert.equal(chat.length, 1);
  assert.equal(chat[0]!.auth, `Bearer ${KEY}`);
  assert.equal(chat[0]!.body.model, "stub-model");
  assert.equal(chat[0]!.body.stream, true);
  assert.deepEqual(chat[0]!.body.messages.slice(1), [{ role: "user", content: "alice: What is the capital of France?" }]);
  // With a model configured the agent does not announce the built-in responder.
  assert.ok(notices.some((n) => n === `hello from ${room}`));
  assert.ok(!notices.some((n) => n.startsWith("No model is configured")), JSON.stringify(notices));

  // Usage was recorded for the room: 1 request with the stream's token counts (plus the greeting's models call).
  // (The usage chunk comes after the last word: wait for the stream to end.)
  const usageOf = async () => ((await (await fetch(`${ts.url}/accounts/projects/default/llm/usage?room=${room}`, { headers: { authorization: `Bearer ${admin}` } })).json()) as any).usage[0];
  await eventually(async () => (await usageOf())?.completion_tokens === 7, 10_000, "the stream's usage recorded");
  const usage = await usageOf();
  assert.deepEqual([usage.prompt_tokens, usage.completion_tokens, usage.errors], [21, 7, 0]);

  // The key is not in the container: not in docker inspect, not in any process environment, no file.
  const states = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
  const container = states[0].container_id as string;
  assert.ok(!docker("inspect", container).includes(KEY), "docker inspect shows the provider key");
  const look = await execNode(container, `
    const fs = require('fs');
    const environs = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).map((p) => { try { return fs.readFileSync('/proc/' + p + '/environ', 'utf8'); } catch { return ''; } }).join('');
    let secrets = []; try { secrets = fs.readdirSync('/run/secrets').sort(); } catch {}
    const inFiles = secrets.some((f) => { try { return fs.readFileSync('/run/secrets/' + f, 'utf8').includes(${JSON.stringify(KEY)}); } catch { return false; } });
    console.log(JSON.stringify({ inEnv: environs.includes(${JSON.stringify(KEY)}), inFiles, secrets }));`);
  // /run/secrets holds only the session's own values (delivered as files so they stay out of
  // docker inspect); the provider key is in none of them.
  assert.deepEqual(JSON.parse(look.out), { inEnv: false, inFiles: false, secrets: ["MESHAGENT_SESSION_ID", "MESHAGENT_TOKEN"] });

  await alice.sync.close(path);
  await settle(alice);
});

test("with no model configured the chat agent says so in the chat and answers with its built-in responder", { timeout: 180_000 }, async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const room = "nomodel-room";
  await env.addService(room, manifest("agent", IMAGES.chat));
  const alice = await env.ts.client(room, "alice");
  await alice.messaging.enable();
  const notices: string[] = [];
  alice.messaging.on("message", (e: any) => {
    if (e.message.type === "chat" && typeof e.message.message?.text === "string") notices.push(e.message.message.text);
  });
  const agent = await waitUntil("the agent participant", () => alice.messaging.getParticipantByName("agent"), 60_000);
  await eventually(() => notices.some((n) => n.startsWith("No model is configured on this server (roomservice llm set")), 30_000, "the no-model notice");
  await alice.messaging.sendMessage({ to: agent, type: "chat", message: { text: "ping" } });
  await eventually(() => notices.includes("you said: ping"), 30_000, "the built-in answer");
});
