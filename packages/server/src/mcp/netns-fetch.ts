/**
 * A `fetch` whose TCP connections are opened inside a room's network namespace, for the MCP
 * SDK's client transports (both take a `fetch` option). Requests go through node:http with an
 * Agent whose connections come from a socket factory (the runtime's NetnsConnector), so the
 * response body streams (SSE works) and idle connections are reused.
 */
import http from "node:http";
import type { Socket } from "node:net";
import { Readable, type Duplex } from "node:stream";

/** Opens a TCP connection to 127.0.0.1:port in the room (NetnsConnector.connect). */
export type SocketFactory = (port: number) => Promise<Socket>;

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

class FactoryAgent extends http.Agent {
  private readonly open: SocketFactory;
  constructor(open: SocketFactory) {
    super({ keepAlive: true, maxSockets: 16, maxFreeSockets: 4, timeout: 60_000 });
    this.open = open;
  }

  // node:http accepts an asynchronous createConnection that reports through the callback.
  override createConnection(options: http.ClientRequestArgs, cb?: (err: Error | null, s: Duplex) => void): undefined {
    if (cb === undefined) throw new Error("netns connections are asynchronous: node:http must pass a callback");
    this.open(Number(options.port)).then((s) => {
      s.resume(); // the helper handed it over paused
      cb(null, s);
    }, (err: Error) => cb(err, undefined as unknown as Duplex));
    return undefined;
  }
}

/**
 * Returns a fetch limited to `http://127.0.0.1:<port>/…` URLs in the room (anything else is
 * refused: the bridge must not become a way out of the namespace or into the host) and a
 * `close()` that drops pooled connections.
 */
export function netnsFetch(open: SocketFactory, o: { maxResponseBytes?: number } = {}): { fetch: FetchLike; close(): void } {
  // A POST's response carries the answer to one request (a tool result): a service must not
  // be able to make the server buffer without bound. The GET stream (server notifications)
  // is long-lived and is not capped as a whole.
  const maxResponseBytes = o.maxResponseBytes ?? 32 * 1024 * 1024;
  const agent = new FactoryAgent(open);
  const fetchImpl: FetchLike = (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(String(input));
      if (url.protocol !== "http:" || (url.hostname !== "127.0.0.1" && url.hostname !== "localhost")) {
        return reject(new TypeError(`the MCP bridge only reaches http://127.0.0.1 inside the room, not ${url.origin}`));
      }
      const headers = new Headers(init.headers);
      const body = init.body;
      if (body !== undefined && body !== null && typeof body !== "string" && !(body instanceof Uint8Array) && !(body instanceof ArrayBuffer)) {
        return reject(new TypeError("netnsFetch supports string and byte bodies only"));
      }
      const bytes = body === undefined || body === null ? null : typeof body === "string" ? Buffer.from(body) : Buffer.from(body as ArrayBuffer);
      if (bytes !== null) headers.set("content-length", String(bytes.length));
      const req = http.request({
        agent, host: "127.0.0.1", port: Number(url.port || 80), path: url.pathname + url.search,
        method: init.method ?? "GET", headers: Object.fromEntries(headers),
      });
      const signal = init.signal;
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new DOMException("aborted", "AbortError"));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (err) => {
        signal?.removeEventListener("abort", onAbort);
        reject(err);
      });
      req.on("response", (res) => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) for (const x of v) h.append(k, x);
          else if (v !== undefined) h.set(k, v);
        }
        const status = res.statusCode ?? 502;
        res.on("close", () => signal?.removeEventListener("abort", onAbort));
        const nullBody = status === 204 || status === 205 || status === 304 || init.method === "HEAD";
        if (nullBody) res.resume();
        else if ((init.method ?? "GET") === "POST") {
          let seen = 0;
          res.on("data", (c: Buffer) => {
            seen += c.length;
            if (seen > maxResponseBytes) res.destroy(new Error(`the MCP server's response exceeded ${maxResponseBytes} bytes`));
          });
        }
        resolve(new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? "", headers: h }));
      });
      req.end(bytes ?? undefined);
    });
  return { fetch: fetchImpl, close: () => agent.destroy() };
}
