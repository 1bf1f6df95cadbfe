import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** Where `npm run build -w @roomservice/studio` writes the app. */
export const DEFAULT_STUDIO_DIR = fileURLToPath(new URL("../../../studio/dist", import.meta.url));

/**
 * Page routes of the single-page app: each answers with index.html so a shared link opens the
 * right page. `/rooms/{room}` is also the Room API WebSocket path, but upgrades never reach
 * Fastify (server.ts hands them to the socket server); `/rooms/{room}/storage/download` is a
 * more specific route registered elsewhere and wins over these.
 */
export const STUDIO_PAGE_ROUTES = [
  "/",
  "/rooms",
  "/rooms/:room",
  "/rooms/:room/sessions/:id",
  "/rooms/:room/services",
  "/rooms/:room/services/:id",
  "/services",
  "/services/:id",
  "/secrets",
] as const;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".map": "application/json",
};

/**
 * The page's security headers. The sign-in URL carries a one-time code, so no Referer ever
 * leaves the page; inline styles are allowed because CodeMirror and uPlot set them.
 */
const PAGE_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

/**
 * Paths that belong to an API (REST, auth, the LLM proxy, storage downloads, assets): an
 * unknown one answers the API's `{error, code}` JSON even to a browser.
 */
const API_PATHS = [/^\/accounts(\/|$)/, /^\/auth(\/|$)/, /^\/openai(\/|$)/, /^\/healthz$/, /^\/assets\//, /^\/rooms\/[^/]+\/storage(\/|$)/];

/**
 * True for a browser navigating to a page (GET/HEAD asking for HTML) outside the APIs: an
 * unknown such path gets Studio's own "page not found" instead of Fastify's JSON.
 */
export function isPageNavigation(method: string, path: string, accept: string | undefined): boolean {
  return (method === "GET" || method === "HEAD") && /\btext\/html\b/.test(accept ?? "") && !API_PATHS.some((re) => re.test(path));
}

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
}

/**
 * Serves Studio (packages/studio/dist) at `/`: hashed assets under /assets/ cached forever,
 * index.html (never cached) for every page route. Files are read once and kept with a gzip
 * copy; the cache is bounded by the size of the build. When the app is not built, page routes
 * answer 503 saying how to build it.
 */
export function registerStudioRoutes(app: FastifyInstance, o: { dir?: string } = {}): void {
  const dir = o.dir ?? DEFAULT_STUDIO_DIR;
  const cache = new Map<string, Asset>();

  async function load(rel: string): Promise<Asset | null> {
    const hit = cache.get(rel);
    if (hit !== undefined) return hit;
    const file = normalize(join(dir, rel));
    if (!file.startsWith(dir + sep)) return null;
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return null;
    }
    const type = TYPES[extname(file)] ?? "application/octet-stream";
    const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 1024;
    const asset = { body, gzip: compressible ? gzipSync(body, { level: 9 }) : null, type };
    cache.set(rel, asset);
    return asset;
  }

  function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cacheControl: string): FastifyReply {
    reply.header("content-type", a.type).header("cache-control", cacheControl).header("vary", "accept-encoding");
    const gzip = a.gzip !== null && /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    if (gzip) reply.header("content-encoding", "gzip");
    return reply.send(gzip ? a.gzip : a.body);
  }

  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    const index = await load("index.html");
    for (const [k, v] of Object.entries(PAGE_HEADERS)) reply.header(k, v);
    if (index === null) {
      return reply.code(503).type("text/plain; charset=utf-8").send(
        `Studio is not built (no ${join(dir, "index.html")}). bin/roomservice serve builds it on start; ` +
          "or run: npm run build -w @roomservice/studio\n",
      );
    }
    return send(req, reply, index, "no-cache");
  };
  for (const route of STUDIO_PAGE_ROUTES) app.get(route, page);

  // Unknown paths (this root scope; the REST scope has its own): a browser navigation gets
  // the app, with status 404, and the app shows its "Page not found" (its router knows no
  // such page either); anything else gets the API's error shape.
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split("?")[0]!;
    if (isPageNavigation(req.method, path, req.headers.accept)) {
      reply.code(404); // kept by page() unless the app is not built (503)
      return page(req, reply);
    }
    return reply.code(404).send({ error: `no such route: ${req.method} ${path}`, code: "not_found" });
  });

  app.get<{ Params: { "*": string } }>("/assets/*", async (req, reply) => {
    const a = await load(`assets/${req.params["*"]}`);
    if (a === null) return reply.code(404).send({ error: `no Studio asset ${JSON.stringify(req.params["*"])}` });
    reply.header("x-content-type-options", "nosniff");
    return send(req, reply, a, "public, max-age=31536000, immutable");
  });
}

/** True when the built app exists in `dir` (used by callers that want to warn early). */
export function studioBuilt(dir = DEFAULT_STUDIO_DIR): boolean {
  return existsSync(join(dir, "index.html"));
}
