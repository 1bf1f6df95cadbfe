import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { csrfMatches, type BrowserSession, type BrowserSessionBackend } from "../auth/browser-sessions.ts";
import type { ServerContext } from "../context.ts";
import { roomNameError } from "../rooms/room-manager.ts";
import { participantName, verifyAdminCredential, type AdminPrincipal } from "../services/admin-auth.ts";
import type { ApiKeyStore } from "../services/api-keys.ts";
import { RoomserviceError } from "./errors.ts";
import { parseBody, signInBody } from "./bodies.ts";

export const SESSION_COOKIE = "rs_session";
export const CSRF_HEADER = "x-csrf-token";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the REST scope's auth hook before any handler runs. */
    admin: AdminPrincipal | null;
  }
  interface FastifyContextConfig {
    /** EventSource cannot set headers: accept `?token=` on this (GET) route. */
    queryToken?: boolean;
  }
}

export interface AuthDeps {
  ctx: ServerContext;
  apiKeys: ApiKeyStore;
  browserSessions: BrowserSessionBackend;
}

/** The value of one cookie in a Cookie header (RFC 6265 syntax; no dependency needed). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * Resolves the caller of a REST request: `Authorization: Bearer` (API key or admin JWT), then
 * `?token=` where the route allows it, then the `rs_session` cookie. A cookie-authenticated
 * request other than GET/HEAD must carry the session's CSRF token in `X-CSRF-Token`: the
 * cookie is sent by the browser on its own, the header only by our page's script.
 */
export async function authenticate(d: AuthDeps, req: FastifyRequest): Promise<AdminPrincipal> {
  const h = req.headers.authorization;
  if (typeof h === "string" && h.trim() !== "") {
    if (!/^Bearer\s+\S+/i.test(h)) throw new RoomserviceError(401, "unauthenticated", "Authorization must be \"Bearer <api key or admin JWT>\"");
    return verifyAdminCredential(d.ctx, d.apiKeys, h.replace(/^Bearer\s+/i, "").trim());
  }
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  if (req.routeOptions.config?.queryToken === true && typeof q === "string" && q !== "") return verifyAdminCredential(d.ctx, d.apiKeys, q);
  const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
  if (cookie !== undefined && cookie !== "") {
    const s = await d.browserSessions.get(cookie);
    if (s === undefined) throw new RoomserviceError(401, "unauthenticated", "your sign-in has expired: sign in again");
    if (s.apiKeyId !== null && !(await d.apiKeys.exists(s.apiKeyId))) {
      await d.browserSessions.delete(cookie);
      throw new RoomserviceError(401, "unauthenticated", "the API key you signed in with was deleted: sign in again");
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      const presented = req.headers[CSRF_HEADER];
      if (!csrfMatches(s, typeof presented === "string" ? presented : undefined)) {
        throw new RoomserviceError(403, "csrf", `missing or wrong ${CSRF_HEADER} header (use the csrf_token from GET /auth/session)`);
      }
    }
    return { identity: s.identity, via: "cookie", apiKeyId: s.apiKeyId };
  }
  throw new RoomserviceError(401, "unauthenticated", "missing Authorization: Bearer <api key or admin JWT> (or sign in at /auth/session)");
}

/**
 * The one auth pre-handler of the REST API, installed on the `/accounts/projects/:project`
 * scope: authenticates, then checks the project and (when the route has one) the room name.
 * Handlers find the caller in `req.admin`.
 */
export function installAuthHook(scope: FastifyInstance, d: AuthDeps): void {
  scope.decorateRequest("admin", null);
  // Unknown routes of the API answer in its error shape too (the rest of the site is Studio's).
  scope.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: `no such route: ${req.method} ${req.url.split("?")[0]}`, code: "not_found" });
  });
  scope.addHook("onRequest", async (req) => {
    req.admin = await authenticate(d, req);
    const params = req.params as { project?: string; room?: string };
    if (params.project !== undefined && params.project !== d.ctx.projectId) {
      throw new RoomserviceError(404, "not_found", `project ${JSON.stringify(params.project)} not found; this server hosts project ${JSON.stringify(d.ctx.projectId)}`);
    }
    if (params.room !== undefined) {
      const err = roomNameError(params.room);
      if (err !== null) throw new RoomserviceError(400, "invalid_room_name", err);
    }
  });
}

function sessionJson(d: AuthDeps, s: BrowserSession): Record<string, unknown> {
  return { identity: s.identity, participant_name: participantName({ identity: s.identity, via: "cookie" }), project_id: d.ctx.projectId, csrf_token: s.csrfToken };
}

/**
 * Studio sign-in: POST /auth/session with `{api_key}` or `{login}` (a one-time code printed by
 * `serve`) sets the HttpOnly SameSite=Strict `rs_session` cookie; GET tells the page who it is
 * and its CSRF token; DELETE signs out.
 */
export function registerAuthSessionRoutes(app: FastifyInstance, d: AuthDeps): void {
  // Secure only over TLS: on plain-HTTP loopback a Secure cookie would never come back.
  const setCookie = (req: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number) =>
    reply.header("set-cookie", `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}${req.protocol === "https" ? "; Secure" : ""}`);

  // A sign-in body is two short strings: nothing bigger is read before the key is checked.
  app.post("/auth/session", { bodyLimit: 16 * 1024 }, async (req, reply) => {
    const { api_key: apiKey, login } = parseBody(signInBody, req.body, "sign-in", "{\"api_key\": \"...\"} or {\"login\": \"<code>\"}");
    let opened: { id: string; session: BrowserSession };
    if (typeof login === "string" && login !== "") {
      if (!(await d.browserSessions.redeemLoginCode(login))) {
        throw new RoomserviceError(401, "unauthenticated", "this sign-in link was already used or has expired: get a new one with `roomservice login-link` (on the server's machine), or sign in with an API key");
      }
      opened = await d.browserSessions.create("admin", null);
    } else if (typeof apiKey === "string" && apiKey.trim() !== "") {
      const p = await verifyAdminCredential(d.ctx, d.apiKeys, apiKey.trim());
      opened = await d.browserSessions.create(p.identity, p.apiKeyId);
    } else {
      throw new RoomserviceError(400, "bad_request", "body must have api_key (a non-empty string) or login (a one-time code)");
    }
    d.ctx.logger.info({ identity: opened.session.identity, via: typeof login === "string" ? "login code" : "api key" }, "studio sign-in");
    setCookie(req, reply, opened.id, Math.floor(d.browserSessions.limits.absoluteMs / 1000));
    return sessionJson(d, opened.session);
  });

  app.get("/auth/session", async (req) => {
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const s = cookie === undefined || cookie === "" ? undefined : await d.browserSessions.get(cookie);
    if (s === undefined || (s.apiKeyId !== null && !(await d.apiKeys.exists(s.apiKeyId)))) throw new RoomserviceError(401, "unauthenticated", "not signed in");
    return sessionJson(d, s);
  });

  // Signing out needs no body and anyone may ask (without a cookie it does nothing): it is
  // done in onRequest, before a body would be read, so none is ever buffered or parsed.
  const signOut = async (req: FastifyRequest, reply: FastifyReply) => {
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (cookie !== undefined && cookie !== "") {
      const s = await d.browserSessions.get(cookie);
      // Signing out is a write: a cross-site page must not be able to sign the user out either.
      if (s !== undefined && !csrfMatches(s, typeof req.headers[CSRF_HEADER] === "string" ? (req.headers[CSRF_HEADER] as string) : undefined)) {
        throw new RoomserviceError(403, "csrf", `missing or wrong ${CSRF_HEADER} header`);
      }
      await d.browserSessions.delete(cookie);
    }
    setCookie(req, reply, "", 0);
    return reply.code(204).send();
  };
  app.delete("/auth/session", { onRequest: signOut }, async (_req, reply) => reply);
}
