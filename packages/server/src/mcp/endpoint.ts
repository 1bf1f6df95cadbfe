/**
 * One MCP server endpoint a service declares (`ports[].endpoints[].mcp`), as seen from the
 * room server: connect (Streamable HTTP, then the older HTTP+SSE transport), list tools,
 * follow `notifications/tools/list_changed`, call tools with a timeout, close.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { ToolListChangedNotificationSchema, type CallToolResult, type Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { NormalizedMcpEndpoint } from "@roomservice/manifest";
import type { Logger } from "pino";
import { toolAllowed } from "./content-map.ts";
import type { FetchLike } from "./netns-fetch.ts";

/** Timeouts of the bridge, in milliseconds. */
export interface McpTimeouts {
  /** One connection attempt (initialize + tools/list). */
  connectMs: number;
  /** Keep retrying refused connections this long after the service became ready. */
  connectRetryForMs: number;
  /** A tools/call; the caller gets an error when it passes (never a hung call). */
  callMs: number;
}

export const DEFAULT_MCP_TIMEOUTS: McpTimeouts = { connectMs: 10_000, connectRetryForMs: 30_000, callMs: 60_000 };

/**
 * Lifecycle. `ready` holds the live client and the tools that pass `allowed_tools`;
 * `failed` is left only by a new `connect()` (the service became ready again).
 */
export type EndpointState =
  | { kind: "idle" }
  | { kind: "connecting"; attempt: number }
  | { kind: "ready"; client: Client; transport: "streamable-http" | "sse"; tools: Tool[] }
  | { kind: "failed"; error: string }
  | { kind: "closed" };

export interface EndpointCallbacks {
  /** A tool list was (re)loaded, or the endpoint went away: the toolkit changed. */
  changed(): void;
  /** A Kubernetes-style event for the service (Warning for failures). */
  event(type: "Normal" | "Warning", reason: "McpConnected" | "McpFailed" | "McpToolsChanged", message: string): void;
}

export class McpEndpoint {
  readonly port: number;
  readonly path: string;
  readonly config: NormalizedMcpEndpoint;
  state: EndpointState = { kind: "idle" };
  private readonly fetch: FetchLike;
  private readonly timeouts: McpTimeouts;
  private readonly cb: EndpointCallbacks;
  private readonly log: Logger;
  /** Bumped by connect()/close(): a stale attempt sees it changed and stops. */
  private generation = 0;

  constructor(o: { port: number; path: string; config: NormalizedMcpEndpoint; fetch: FetchLike; timeouts: McpTimeouts; cb: EndpointCallbacks; log: Logger }) {
    this.port = o.port;
    this.path = o.path.startsWith("/") ? o.path : `/${o.path}`;
    this.config = o.config;
    this.fetch = o.fetch;
    this.timeouts = o.timeouts;
    this.cb = o.cb;
    this.log = o.log;
  }

  get url(): URL {
    return new URL(`http://127.0.0.1:${this.port}${this.path}`);
  }

  /** Tools participants may see and call (empty unless ready). */
  get tools(): Tool[] {
    return this.state.kind === "ready" ? this.state.tools : [];
  }

  /**
   * Connects (again), retrying refused connections with backoff for `connectRetryForMs`: a
   * service may be "running" before its HTTP server listens. Never throws; failures become
   * the `failed` state and a Warning event.
   */
  async connect(): Promise<void> {
    if (this.state.kind === "closed") return;
    const gen = ++this.generation;
    await this.dropClient();
    const deadline = Date.now() + this.timeouts.connectRetryForMs;
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      if (gen !== this.generation) return;
      this.state = { kind: "connecting", attempt };
      try {
        const { client, transport } = await this.open();
        if (gen !== this.generation) {
          await client.close().catch(() => {});
          return;
        }
        const tools = await this.listTools(client);
        if (gen !== this.generation) {
          await client.close().catch(() => {});
          return;
        }
        this.state = { kind: "ready", client, transport, tools };
        this.cb.event("Normal", "McpConnected", `MCP server ${this.url.pathname} on port ${this.port} connected (${transport}); ${tools.length} tool(s) as toolkit "${this.config.label}"`);
        this.cb.changed();
        return;
      } catch (err) {
        const msg = describeError(err);
        const retryable = /ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|fetch failed/i.test(msg);
        if (!retryable || Date.now() + delay > deadline) {
          if (gen !== this.generation) return;
          this.state = { kind: "failed", error: msg };
          this.cb.event("Warning", "McpFailed", `MCP server ${this.url.pathname} on port ${this.port}: ${msg}`);
          this.cb.changed();
          return;
        }
        this.log.debug({ attempt, err: msg }, "MCP server not reachable yet; retrying");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private async open(): Promise<{ client: Client; transport: "streamable-http" | "sse" }> {
    const requestInit: RequestInit = { headers: this.config.headers };
    const streamable = new StreamableHTTPClientTransport(this.url, { fetch: this.fetch, requestInit });
    try {
      return { client: await this.initialize(streamable), transport: "streamable-http" };
    } catch (err) {
      // The MCP spec's backwards-compatibility rule: a 4xx to the initialize POST means an
      // older server speaking HTTP+SSE (GET opens the stream, POSTs go to the endpoint it names).
      const code = err instanceof StreamableHTTPError ? err.code : undefined;
      if (code === undefined || code < 400 || code >= 500) throw err;
      this.log.debug({ code }, "Streamable HTTP refused; trying the HTTP+SSE transport");
      const sse = new SSEClientTransport(this.url, { fetch: this.fetch, requestInit, eventSourceInit: { fetch: this.withHeaders() } });
      try {
        return { client: await this.initialize(sse), transport: "sse" };
      } catch (sseErr) {
        throw new Error(`Streamable HTTP answered ${code}, and HTTP+SSE failed too: ${describeError(sseErr)}`);
      }
    }
  }

  /** EventSource's fetch gets no requestInit: add the configured headers here. */
  private withHeaders(): FetchLike {
    return (url, init = {}) => {
      const headers = new Headers(init.headers);
      for (const [k, v] of Object.entries(this.config.headers)) headers.set(k, v);
      return this.fetch(url, { ...init, headers });
    };
  }

  private async initialize(transport: Transport): Promise<Client> {
    const client = new Client({ name: "roomservice-mcp-bridge", version: "1.0.0" }, { capabilities: {} });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void this.refresh());
    client.onerror = (err) => this.log.debug({ err: describeError(err) }, "MCP transport error");
    try {
      await client.connect(transport, { timeout: this.timeouts.connectMs });
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
    return client;
  }

  private async listTools(client: Client): Promise<Tool[]> {
    const all: Tool[] = [];
    let cursor: string | undefined;
    // Paginated (MCP 2025-03-26); bounded so a server returning cursors forever cannot spin us.
    for (let page = 0; page < 100; page++) {
      const r = await client.listTools(cursor === undefined ? {} : { cursor }, { timeout: this.timeouts.connectMs });
      all.push(...r.tools);
      cursor = r.nextCursor;
      if (cursor === undefined) break;
    }
    return all.filter((t) => toolAllowed(t, this.config.allowedTools));
  }

  /** `notifications/tools/list_changed`: reload the list; keep the old one if that fails. */
  private async refresh(): Promise<void> {
    const st = this.state;
    if (st.kind !== "ready") return;
    try {
      const tools = await this.listTools(st.client);
      if (this.state !== st) return;
      this.state = { ...st, tools };
      this.cb.event("Normal", "McpToolsChanged", `toolkit "${this.config.label}" now has ${tools.length} tool(s)`);
      this.cb.changed();
    } catch (err) {
      this.cb.event("Warning", "McpFailed", `reloading the tool list of ${this.url.pathname} failed: ${describeError(err)}`);
    }
  }

  /**
   * Calls a listed tool. Rejects with McpCallError when the endpoint is not ready, the tool is
   * not exposed, or the call fails (transport error, timeout after `callMs`).
   */
  async call(tool: string, args: Record<string, unknown>): Promise<CallToolResult> {
    const st = this.state;
    if (st.kind !== "ready") throw new McpCallError(`toolkit "${this.config.label}" is not connected (${st.kind === "failed" ? st.error : st.kind})`, 503);
    if (!st.tools.some((t) => t.name === tool)) {
      throw new McpCallError(`tool ${JSON.stringify(tool)} is not exposed by toolkit "${this.config.label}" (available: ${st.tools.map((t) => t.name).join(", ") || "none"})`, 404);
    }
    try {
      return (await st.client.callTool({ name: tool, arguments: args }, undefined, { timeout: this.timeouts.callMs })) as CallToolResult;
    } catch (err) {
      const msg = describeError(err);
      this.cb.event("Warning", "McpFailed", `calling ${tool}: ${msg}`);
      throw new McpCallError(`${this.config.label}.${tool} failed: ${msg}`, /timed out|timeout/i.test(msg) ? 504 : 502);
    }
  }

  private async dropClient(): Promise<void> {
    const st = this.state;
    if (st.kind === "ready") {
      this.state = { kind: "idle" };
      // Closing rejects the client's in-flight requests, so pending callers get an error.
      await st.client.close().catch(() => {});
    }
  }

  /** The service stopped (or the session ended): drop the connection; tools vanish. */
  async disconnect(): Promise<void> {
    this.generation++;
    const wasReady = this.state.kind === "ready";
    await this.dropClient();
    if (this.state.kind !== "closed") this.state = { kind: "idle" };
    if (wasReady) this.cb.changed();
  }

  async close(): Promise<void> {
    await this.disconnect();
    this.state = { kind: "closed" };
  }
}

export class McpCallError extends Error {
  override name = "McpCallError";
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const c = cause instanceof Error ? ` (${(cause as { code?: string }).code ?? cause.message})` : "";
  const code = (err as { code?: unknown }).code;
  return `${err.message}${typeof code === "string" && !err.message.includes(code) ? ` ${code}` : ""}${c}`;
}
