/**
 * The bridge's MCP client (mcp/endpoint.ts) against real MCP servers built with the SDK on
 * the host's loopback: result mapping, allowed_tools, list_changed, timeouts, the HTTP+SSE
 * fallback. (The path into a room's namespace is covered by mcp-tools.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import type { NormalizedMcpEndpoint } from "@roomservice/manifest";
import { McpEndpoint, McpCallError } from "../src/mcp/endpoint.ts";
import { resultToContent } from "../src/mcp/content-map.ts";
import { eventually } from "./helpers.ts";

const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");

function tools(server: McpServer): { addLate(): void } {
  server.registerTool("echo", { inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } }, async ({ text }) => ({ content: [{ type: "text", text }] }));
  server.registerTool("pixel", {}, async () => ({ content: [{ type: "image", data: PNG.toString("base64"), mimeType: "image/png" }] }));
  server.registerTool("stats", { outputSchema: { n: z.number() } }, async () => ({ content: [{ type: "text", text: "{\"n\":3}" }], structuredContent: { n: 3 } }));
  server.registerTool("fail", {}, async () => ({ isError: true, content: [{ type: "text", text: "the input was wrong" }] }));
  server.registerTool("hang", {}, () => new Promise(() => {}));
  server.registerTool("write", { annotations: { readOnlyHint: false } }, async () => ({ content: [{ type: "text", text: "wrote" }] }));
  return { addLate: () => void server.registerTool("late", { annotations: { readOnlyHint: true } }, async () => ({ content: [] })) };
}

/** A stateful Streamable HTTP server (one session), so it can push list_changed. */
async function streamableServer(): Promise<{ port: number; headers: http.IncomingHttpHeaders[]; addLate(): void; close(): void }> {
  const mcp = new McpServer({ name: "t", version: "1" });
  const t = tools(mcp);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
  await mcp.connect(transport);
  const headers: http.IncomingHttpHeaders[] = [];
  const srv = http.createServer((req, res) => {
    headers.push(req.headers);
    void transport.handleRequest(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { port: (srv.address() as AddressInfo).port, headers, addLate: t.addLate, close: () => srv.closeAllConnections() };
}

/** An old-style HTTP+SSE server: GET /mcp opens the stream, POST /messages carries requests; POST /mcp is 405. */
async function sseServer(): Promise<{ port: number; close(): void }> {
  const mcp = new McpServer({ name: "old", version: "1" });
  tools(mcp);
  let transport: SSEServerTransport | null = null;
  const srv = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/mcp") {
      transport = new SSEServerTransport("/messages", res);
      void mcp.connect(transport);
    } else if (req.method === "POST" && req.url?.startsWith("/messages") && transport !== null) void transport.handlePostMessage(req, res);
    else res.writeHead(405).end();
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { port: (srv.address() as AddressInfo).port, close: () => srv.closeAllConnections() };
}

function config(o: Partial<NormalizedMcpEndpoint> = {}): NormalizedMcpEndpoint {
  return { label: "kit", description: undefined, allowedTools: undefined, headers: {}, requireApproval: undefined, oauth: undefined, openaiConnectorId: undefined, useProxySecret: undefined, ...o };
}

function endpoint(port: number, cfg: NormalizedMcpEndpoint, callMs = 5000) {
  const events: { type: string; reason: string; message: string }[] = [];
  let changes = 0;
  const ep = new McpEndpoint({
    port, path: "/mcp", config: cfg, fetch: (u, i) => fetch(u, i), log: pino({ level: "silent" }),
    timeouts: { connectMs: 3000, connectRetryForMs: 1000, callMs },
    cb: { changed: () => void changes++, event: (type, reason, message) => void events.push({ type, reason, message }) },
  });
  return { ep, events, changes: () => changes };
}

test("tools are listed through allowed_tools, results map to room content, headers are sent, and list_changed refreshes", async (t) => {
  const s = await streamableServer();
  t.after(() => s.close());
  const { ep, events } = endpoint(s.port, config({
    headers: { "x-api-key": "k1" },
    allowedTools: [{ toolNames: undefined, readOnly: true }, { toolNames: ["pixel", "stats", "fail"], readOnly: undefined }],
  }));
  t.after(() => ep.close());
  await ep.connect();
  assert.equal(ep.state.kind, "ready", JSON.stringify(events));
  assert.deepEqual(ep.tools.map((x) => x.name).sort(), ["echo", "fail", "pixel", "stats"]);
  assert.deepEqual(ep.tools.find((x) => x.name === "echo")!.inputSchema.required, ["text"]);
  assert.ok(s.headers.every((h) => h["x-api-key"] === "k1"), "the configured header goes with every request");
  assert.equal(events[0]!.reason, "McpConnected");

  assert.deepEqual(resultToContent(await ep.call("echo", { text: "hi" })), { type: "text", text: "hi" });
  const img = resultToContent(await ep.call("pixel", {}));
  assert.equal(img.type, "binary");
  assert.deepEqual(img.type === "binary" && [img.headers.mime_type, img.data], ["image/png", PNG]);
  assert.deepEqual(resultToContent(await ep.call("stats", {})), { type: "json", json: { n: 3 } });
  assert.deepEqual(resultToContent(await ep.call("fail", {})), { type: "error", text: "the input was wrong" });

  // Not allowed: refused without reaching the server.
  const before = s.headers.length;
  await assert.rejects(ep.call("write", {}), (e: unknown) => e instanceof McpCallError && e.code === 404 && /not exposed/.test(e.message));
  assert.equal(s.headers.length, before);

  // A tool added at run time: the server sends notifications/tools/list_changed.
  s.addLate();
  await eventually(() => ep.tools.some((x) => x.name === "late"), 5000, "the refreshed tool list");
  assert.ok(events.some((e) => e.reason === "McpToolsChanged"));
});

test("a tool that never answers fails after the call timeout with a Warning event; disconnect fails calls in flight", async (t) => {
  const s = await streamableServer();
  t.after(() => s.close());
  const { ep, events } = endpoint(s.port, config(), 300);
  t.after(() => ep.close());
  await ep.connect();
  await assert.rejects(ep.call("hang", {}), (e: unknown) => e instanceof McpCallError && e.code === 504);
  assert.ok(events.some((e) => e.type === "Warning" && e.reason === "McpFailed" && /hang/.test(e.message)));

  const { ep: ep2 } = endpoint(s.port, config(), 60_000);
  await ep2.connect();
  const pending = ep2.call("hang", {});
  await ep2.disconnect();
  await assert.rejects(pending, McpCallError);
  assert.equal(ep2.tools.length, 0);
});

test("an old HTTP+SSE server is reached through the fallback; a port with nothing listening ends in failed after the retry window", async (t) => {
  const s = await sseServer();
  t.after(() => s.close());
  const { ep } = endpoint(s.port, config());
  t.after(() => ep.close());
  await ep.connect();
  assert.equal(ep.state.kind === "ready" && ep.state.transport, "sse");
  assert.deepEqual(resultToContent(await ep.call("echo", { text: "old" })), { type: "text", text: "old" });

  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const freePort = (probe.address() as AddressInfo).port;
  probe.close();
  const { ep: dead, events } = endpoint(freePort, config());
  await dead.connect();
  assert.equal(dead.state.kind, "failed");
  assert.match(events.at(-1)!.message, /ECONNREFUSED/);
});
