import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startTestServer, type TestServer } from "./helpers.ts";
import { mintParticipantToken } from "../src/index.ts";

const KEY = "sk-upstream-test-" + Math.random().toString(36).slice(2);

/** A local OpenAI-compatible upstream: refuses any key but KEY, answers and streams. */
async function startUpstream(): Promise<{ url: string; seen: { auth: string | undefined; path: string; body: any }[]; close(): Promise<void> }> {
  const seen: { auth: string | undefined; path: string; body: any }[] = [];
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const t = Buffer.concat(chunks).toString("utf8");
    return t === "" ? null : JSON.parse(t);
  };
  const srv: Server = createServer(async (req, res) => {
    const body = await read(req);
    seen.push({ auth: req.headers.authorization, path: req.url ?? "", body });
    if (req.headers.authorization !== `Bearer ${KEY}`) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "bad key" } }));
      return;
    }
    if (req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [{ id: "test-model", object: "model" }] }));
      return;
    }
    const words = ["Hello", " from", " the", " upstream"];
    if (body?.stream === true) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const w of words) {
        res.write(`data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: w } }] })}\n\n`);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (body.stream_options?.include_usage === true) {
        res.write(`data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } })}\n\n`);
      }
      res.end("data: [DONE]\n\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({
      id: "c0", object: "chat.completion", model: body?.model,
      choices: [{ index: 0, message: { role: "assistant", content: words.join("") }, finish_reason: "stop" }],
      usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
    }));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1`,
    seen,
    close: () => new Promise((r) => srv.close(() => r())),
  };
}

async function admin(ts: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const key = (await ts.server.apiKeys.create("default", "llm-test", Date.now())).key;
  const res = await fetch(`${ts.url}/accounts/projects/default${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const t = await res.text();
  return { status: res.status, json: t === "" ? null : JSON.parse(t) };
}

function chat(ts: TestServer, token: string | null, body: unknown): Promise<Response> {
  return fetch(`${ts.url}/openai/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
}

test("the LLM proxy forwards with the operator's key, streams, records usage per room, and refuses what it should", async (t) => {
  const up = await startUpstream();
  const ts = await startTestServer();
  t.after(async () => {
    await ts.close();
    await up.close();
  });
  const agent = await ts.token("demo", "agent-1", { role: "agent" });

  // Before any configuration: a clear 503 that says what to run.
  let r = await chat(ts, agent, { model: "test-model", messages: [] });
  assert.equal(r.status, 503);
  assert.match(((await r.json()) as any).error.message, /roomservice llm set --base-url/);

  // Configuration is validated: a URL with credentials, a missing secret.
  assert.equal((await admin(ts, "PUT", "/llm", { base_url: "ftp://x" })).status, 400);
  const missing = await admin(ts, "PUT", "/llm", { base_url: up.url, api_key_secret: "openai-key" });
  assert.equal(missing.status, 400);
  assert.match(missing.json.error, /api_key_secret: project secret "openai-key" does not exist/);
  await ts.server.secrets.set("default", null, "openai-key", "opaque", Buffer.from(KEY + "\n"), Date.now());
  const set = await admin(ts, "PUT", "/llm", { base_url: up.url, api_key_secret: "openai-key" });
  assert.equal(set.status, 200, JSON.stringify(set.json));
  assert.deepEqual({ configured: set.json.configured, base_url: set.json.base_url, api_key_secret: set.json.api_key_secret }, { configured: true, base_url: up.url, api_key_secret: "openai-key" });
  assert.ok(!JSON.stringify((await admin(ts, "GET", "/llm")).json).includes(KEY), "the key never comes back");

  // No token, a user token without the llm grant, a model outside the grant.
  assert.equal((await chat(ts, null, { model: "m" })).status, 401);
  const user = await ts.token("demo", "alice", { role: "user" });
  r = await chat(ts, user, { model: "test-model", messages: [] });
  assert.equal(r.status, 403);
  assert.match(((await r.json()) as any).error.message, /does not include "llm"/);
  const narrow = await ts.token("demo", "narrow", { role: "agent", api: { llm: { models: ["openai/gpt-*"] } } });
  assert.equal((await chat(ts, narrow, { model: "test-model", messages: [] })).status, 403);
  assert.equal(up.seen.length, 0, "refused calls never reach the upstream");

  // A service token of a session that is not live is refused.
  const stale = await mintParticipantToken(ts.secret, { room: "demo", identity: "svc", role: "agent", service: { sessionId: "ended-session", serviceId: "s1" }, ttlSeconds: 600 });
  r = await chat(ts, stale, { model: "test-model", messages: [] });
  assert.equal(r.status, 403);
  assert.match(((await r.json()) as any).error.message, /which has ended/);

  // A plain completion: the upstream saw the operator's key, not the caller's token.
  r = await chat(ts, agent, { model: "test-model", messages: [{ role: "user", content: "hi" }] });
  assert.equal(r.status, 200);
  const j = (await r.json()) as any;
  assert.equal(j.choices[0].message.content, "Hello from the upstream");
  const last = up.seen.at(-1)!;
  assert.equal(last.auth, `Bearer ${KEY}`);
  assert.equal(last.path, "/v1/chat/completions");
  assert.deepEqual(last.body.messages, [{ role: "user", content: "hi" }]);

  // A streamed completion arrives as SSE chunks, in order, with the usage chunk last.
  r = await chat(ts, agent, { model: "test-model", stream: true, stream_options: { include_usage: true }, messages: [] });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /text\/event-stream/);
  const text = await r.text();
  const deltas = text.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6))).flatMap((c) => c.choices.map((x: any) => x.delta.content));
  assert.equal(deltas.join(""), "Hello from the upstream");
  assert.ok(text.trimEnd().endsWith("data: [DONE]"));

  // GET routes are forwarded too (an OpenAI client lists models).
  r = await fetch(`${ts.url}/openai/v1/models`, { headers: { authorization: `Bearer ${agent}` } });
  assert.equal(((await r.json()) as any).data[0].id, "test-model");

  // Usage per room: 3 forwarded requests, tokens from the JSON body and the stream's usage chunk.
  const usage = await admin(ts, "GET", "/llm/usage");
  assert.equal(usage.status, 200);
  const demo = usage.json.usage.find((u: any) => u.room === "demo");
  assert.deepEqual(
    { requests: demo.requests, errors: demo.errors, prompt: demo.prompt_tokens, completion: demo.completion_tokens, total: demo.total_tokens },
    { requests: 3, errors: 0, prompt: 12, completion: 8, total: 20 },
  );

  // A wrong key at the upstream is the upstream's 401, passed through and counted as an error.
  await ts.server.secrets.set("default", "demo", "openai-key", "opaque", Buffer.from("sk-wrong"), Date.now());
  r = await chat(ts, agent, { model: "test-model", messages: [] });
  assert.equal(r.status, 401);
  assert.equal((await admin(ts, "GET", "/llm/usage?room=demo")).json.usage[0].errors, 1);

  // An upstream that is gone: 502 naming the upstream, never a hang.
  await admin(ts, "PUT", "/llm", { base_url: "http://127.0.0.1:9/v1" });
  r = await chat(ts, agent, { model: "test-model", messages: [] });
  assert.equal(r.status, 502);
  assert.match(((await r.json()) as any).error.message, /LLM upstream http:\/\/127\.0\.0\.1:9\/v1 failed/);

  assert.equal((await admin(ts, "DELETE", "/llm")).status, 204);
  assert.equal((await chat(ts, agent, { model: "m", messages: [] })).status, 503);
});
