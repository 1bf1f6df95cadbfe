import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";

/**
 * Set on every request one node forwards to another. A node that receives a forwarded request
 * for a room it does not own refuses it (503, retry) instead of forwarding again, so a room
 * changing owner mid-flight can never bounce a request around. A client setting it itself
 * gains nothing: it can only make a node refuse rather than forward.
 */
export const FORWARDED_BY_HEADER = "x-roomservice-forwarded-by";

/**
 * How long connecting to the owner may take. A node whose machine vanished does not refuse
 * connections, it just never answers: without a bound a client would wait for the kernel's
 * TCP timeout (minutes) instead of getting a 503 it retries.
 */
export const FORWARD_CONNECT_TIMEOUT_MS = 5_000;

/**
 * How long the owner may take to send a forwarded request's response head once the request
 * was sent. Every forwarded route answers at once (202 for service actions, the SSE head before
 * any event), so only a stalled owner (frozen process, event loop stuck) runs into it: the
 * client gets 504 and retries instead of waiting with no bound.
 */
export const FORWARD_ANSWER_TIMEOUT_MS = 30_000;

/** The owner accepted a forwarded request but sent no response head in time. */
class NoAnswerError extends Error {
  override name = "NoAnswerError";
}

/** Headers a hop must not pass on for plain HTTP (RFC 9110 §7.6.1); upgrades keep theirs. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"]);

function targetOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || (u.protocol === "https:" ? 443 : 80)) };
}

/**
 * Forwards a WebSocket handshake and then the connection's bytes, unchanged, to the node at
 * `ownerUrl`. The owner answers the handshake itself (so auth and refusals are its own) and
 * sees the client's Host header (so the room URL it announces is the load-balanced address).
 * Bytes are piped with backpressure both ways: a slow side pauses the other, nothing queues
 * without bound here. `onUnreachable` runs when the owner cannot be reached at all, before
 * any byte went back to the client (the caller refuses the handshake, e.g. 503).
 */
export function forwardUpgrade(
  req: IncomingMessage, socket: Duplex, head: Buffer, ownerUrl: string, nodeId: string,
  onUnreachable: (err: Error) => void,
): void {
  const { host, port } = targetOf(ownerUrl);
  const upstream: Socket = connect({ host, port });
  let connected = false;
  upstream.setNoDelay(true);
  upstream.setTimeout(FORWARD_CONNECT_TIMEOUT_MS, () => {
    if (!connected) upstream.destroy(new Error(`no answer within ${FORWARD_CONNECT_TIMEOUT_MS} ms`));
  });
  (socket as Partial<Socket>).setNoDelay?.(true);
  upstream.on("connect", () => {
    connected = true;
    upstream.setTimeout(0);
    const lines = [`${req.method ?? "GET"} ${req.url ?? "/"} HTTP/${req.httpVersion}`];
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (raw[i]!.toLowerCase() === FORWARDED_BY_HEADER) continue;
      lines.push(`${raw[i]}: ${raw[i + 1]}`);
    }
    lines.push(`${FORWARDED_BY_HEADER}: ${nodeId}`);
    const xff = req.headers["x-forwarded-for"];
    const peer = req.socket.remoteAddress ?? "";
    if (xff === undefined && peer !== "") lines.push(`x-forwarded-for: ${peer}`);
    upstream.write(lines.join("\r\n") + "\r\n\r\n");
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
  upstream.on("error", (err) => {
    if (!connected) onUnreachable(err);
    socket.destroy();
  });
  upstream.on("close", () => socket.destroy());
  socket.on("error", () => upstream.destroy());
  socket.on("close", () => upstream.destroy());
}

/**
 * Forwards one HTTP request (body streamed) to the owner node and streams its response back —
 * SSE included: nothing is buffered beyond the pipes' own high-water marks, and the upstream
 * request is torn down when the client goes away. The owner authenticates the request itself.
 */
export function forwardHttp(req: IncomingMessage, res: ServerResponse, ownerUrl: string, nodeId: string, o: { answerTimeoutMs?: number } = {}): void {
  const answerTimeoutMs = o.answerTimeoutMs ?? FORWARD_ANSWER_TIMEOUT_MS;
  let answerTimer: NodeJS.Timeout | undefined;
  const { host, port } = targetOf(ownerUrl);
  // Null-prototype: keys are the caller's header names ("__proto__" is a valid token).
  const headers: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || k === FORWARDED_BY_HEADER) continue;
    headers[k] = v;
  }
  headers[FORWARDED_BY_HEADER] = nodeId;
  if (req.headers.host !== undefined) headers["x-forwarded-host"] = req.headers.host;
  headers.host = req.headers.host ?? `${host}:${port}`;
  const up = httpRequest({ host, port, method: req.method, path: req.url, headers }, (r) => {
    clearTimeout(answerTimer);
    const out: Record<string, string | string[]> = Object.create(null);
    for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    res.writeHead(r.statusCode ?? 502, out);
    res.flushHeaders();
    r.pipe(res);
    r.on("error", () => res.destroy());
  });
  up.on("socket", (s) => {
    s.setTimeout(FORWARD_CONNECT_TIMEOUT_MS, () => {
      if (s.connecting) up.destroy(new Error(`no answer within ${FORWARD_CONNECT_TIMEOUT_MS} ms`));
    });
    s.once("connect", () => s.setTimeout(0));
  });
  // The wait for the head starts once the whole request went out (a slow upload is not the owner's delay).
  up.on("finish", () => {
    if (up.destroyed) return;
    answerTimer = setTimeout(() => up.destroy(new NoAnswerError(`no response within ${answerTimeoutMs} ms`)), answerTimeoutMs);
    answerTimer.unref();
  });
  up.on("error", (err) => {
    clearTimeout(answerTimer);
    if (!res.headersSent) {
      res.writeHead(err instanceof NoAnswerError ? 504 : 502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `the node that runs this room (${ownerUrl}) did not answer: ${err.message}; retry` }));
    } else res.destroy();
  });
  res.on("close", () => {
    clearTimeout(answerTimer);
    up.destroy();
  });
  req.pipe(up);
}
