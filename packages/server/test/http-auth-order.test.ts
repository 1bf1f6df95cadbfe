import { test } from "node:test";
import assert from "node:assert/strict";
import { METHODS, request } from "node:http";
import { join } from "node:path";
import { mintParticipantToken } from "../src/index.ts";
import { livePathOf } from "../src/cluster/http.ts";
import { STUDIO_PAGE_ROUTES } from "../src/http/studio-routes.ts";
import { startTestServer, type TestServer } from "./helpers.ts";
import { twoClusterNodes } from "./cluster-nodes.ts";

// The credential comes before the body, on every route (docs/architecture.md, "Auth"): a
// caller without one gets 401 — not 400 for a malformed body, not 413 for a big one — and the
// server neither buffers nor parses what it sent. The routes are the server's own list
// (RoomServer.routes, every route as registered), so a route added later is covered with no
// change here; a route that is public on purpose must be named in PUBLIC with what it answers.

/** A body that declares 1 GiB and sends 1 KiB: a server that waited for it before checking the credential would hang or answer 413. */
const OVERSIZED = { declared: 1 << 30, chunk: Buffer.alloc(1024, "x") };
/** A JSON body that does not parse. */
const MALFORMED = Buffer.from('{"malformed": ');

type Kind = "oversized" | "malformed";

/**
 * Routes that answer without a credential on purpose, and what they answer one with a body.
 * Every other route must answer 401.
 */
const PUBLIC: { match: (method: string, url: string) => boolean; why: string; expect: (kind: Kind) => number[] }[] = [
  {
    match: (m, u) => (m === "GET" || m === "HEAD") && (u === "/healthz" || u === "/assets/*" || (STUDIO_PAGE_ROUTES as readonly string[]).includes(u)),
    why: "liveness and Studio's static files (503 when Studio is not built); GET/HEAD bodies are never read",
    expect: () => [200, 404, 503],
  },
  {
    match: (m, u) => (m === "GET" || m === "HEAD") && u === "/rooms/:room/storage/download",
    why: "a storage download URL carries its own signed token in the query; GET bodies are never read",
    expect: () => [403],
  },
  {
    match: (m, u) => m === "POST" && u === "/auth/session",
    why: "Studio sign-in: the body is the credential (an API key or a login code), so it is read — at most 16 KiB",
    expect: (kind) => (kind === "oversized" ? [413] : [400]),
  },
  {
    match: (m, u) => m === "DELETE" && u === "/auth/session",
    why: "sign-out: without a cookie there is nothing to do; answered before any body is read",
    expect: () => [204],
  },
];

/** A concrete path for a route pattern (`:params` and `*` filled in). */
function concrete(url: string, params: Record<string, string> = {}): string {
  return url.replace(/:([A-Za-z_]+)/g, (_, name: string) => params[name] ?? "x").replace(/\*$/, "x");
}

/**
 * Sends a request with a body and no credential; resolves with the status as soon as the
 * response head arrives (the oversized body is never finished: a server that waited for it
 * would never answer, and the test's own timeout would fail it).
 */
function send(base: string, method: string, path: string, kind: Kind, headers: Record<string, string> = {}): Promise<number> {
  const u = new URL(base);
  const body = kind === "oversized" ? OVERSIZED.chunk : MALFORMED;
  const length = kind === "oversized" ? OVERSIZED.declared : MALFORMED.length;
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { "content-type": "application/json", "content-length": String(length), ...headers } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    req.on("error", reject);
    req.write(body);
    if (kind === "malformed") req.end();
  });
}

/** Methods a Node client can send and a Fastify route can take with a body (CONNECT is a tunnel, not a request). */
const sendable = (m: string) => METHODS.includes(m) && m !== "CONNECT";

/** Every route of `s` called without a credential, with each kind of body: what answered otherwise than it must. */
async function walk(s: TestServer): Promise<string[]> {
  const routes = s.server.routes.filter((r) => sendable(r.method));
  assert.ok(routes.length > 40, `the server lists its routes (${routes.length})`);
  assert.ok(routes.some((r) => r.url.startsWith("/accounts/projects/:project/")) && routes.some((r) => r.url.startsWith("/openai/v1/")), "REST and LLM proxy routes are among them");
  const wrong: string[] = [];
  for (const r of routes) {
    const pub = PUBLIC.find((p) => p.match(r.method, r.url));
    for (const kind of ["oversized", "malformed"] as const) {
      const status = await send(s.url, r.method, concrete(r.url, { project: "default", room: "r1" }), kind);
      const want = pub === undefined ? [401] : pub.expect(kind);
      if (!want.includes(status)) wrong.push(`${r.method} ${r.url} (${kind} body): ${status}, expected ${want.join(" or ")}${pub ? ` — public: ${pub.why}` : ""}`);
    }
  }
  // An unknown path of the API answers 401 too: it says nothing about routes to a caller without a credential.
  for (const kind of ["oversized", "malformed"] as const) {
    const status = await send(s.url, "POST", "/accounts/projects/default/no-such-route", kind);
    if (status !== 401) wrong.push(`POST /accounts/projects/default/no-such-route (${kind} body): ${status}, expected 401`);
  }
  return wrong;
}

test("every route checks the credential before the body: no token and a big or malformed body get 401 (or the public route's own answer)", { timeout: 120_000 }, async (t) => {
  const s = await startTestServer({ maxBodyBytes: 64 * 1024 });
  t.after(() => s.close());
  assert.deepEqual(await walk(s), []);
});

test("a cluster node checks the credential first on every route, and before forwarding a live-room request: 401 without one even when the owner is unreachable", { timeout: 120_000 }, async (t) => {
  const { a, b, db, secret } = await twoClusterNodes(t, "authorder");
  const client = await a.client("far", "alice");
  // Node a owns "far", and its address now leads nowhere: whatever node b forwards fails (502).
  await db.query("UPDATE cluster_nodes SET url = 'http://127.0.0.1:9' WHERE node_id = $1", [a.server.cluster!.nodeId]);
  const params = { project: "default", room: "far", sid: client.sessionId as string, id: "x" };
  const forwarded = b.server.routes.filter((r) => sendable(r.method) && livePathOf(concrete(r.url, params)) !== null);
  assert.ok(forwarded.some((r) => r.url.endsWith("/terminate")) && forwarded.some((r) => r.url.endsWith("/stream")), `the live-room routes: ${forwarded.map((r) => r.url).join(", ")}`);
  const admin = await mintParticipantToken(secret, { room: "admin", identity: "admin", role: "user", ttlSeconds: 600, api: { admin: {} } as never });
  // Every route of a cluster node (its own internal route included) first, as on a single server.
  const wrong = await walk(b);
  for (const r of forwarded) {
    const path = concrete(r.url, params);
    for (const kind of ["oversized", "malformed"] as const) {
      const status = await send(b.url, r.method, path, kind);
      if (status !== 401) wrong.push(`${r.method} ${path} (${kind} body, no token): ${status}, expected 401`);
    }
    // With the credential the same request is forwarded (and fails at the unreachable owner):
    // so the 401 above was node b's own check, made before it forwarded anything.
    const status = await send(b.url, r.method, path, "malformed", { authorization: `Bearer ${admin}` });
    if (status !== 502) wrong.push(`${r.method} ${path} (with a token): ${status}, expected 502 (forwarded to the unreachable owner)`);
  }
  assert.deepEqual(wrong, []);
});
