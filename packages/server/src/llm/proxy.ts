import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import { AuthError, verifyParticipantToken, type Principal } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { SecretStore } from "../services/secret-store.ts";
import type { LlmStore } from "./llm-store.ts";
import { UsageScanner } from "./usage.ts";

/** Largest request body forwarded (chat histories with images, audio uploads). */
export const LLM_MAX_BODY_BYTES = 32 * 1024 * 1024;
/** How long the upstream may take to send its response headers before the call fails. */
export const LLM_HEADERS_TIMEOUT_MS = 120_000;

/** Request headers passed through to the upstream; everything else (cookies, auth) stays here. */
const FORWARD_REQUEST_HEADERS = ["content-type", "accept", "openai-beta"];
/** Response headers passed back; hop-by-hop and length headers are recomputed. */
const FORWARD_RESPONSE_HEADERS = ["content-type", "cache-control", "openai-processing-ms", "x-request-id"];

export interface LlmProxyDeps {
  ctx: ServerContext;
  rooms: RoomManager;
  llm: LlmStore;
  secrets: SecretStore;
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
  headersTimeoutMs?: number;
}

/**
 * An error in OpenAI's shape (`{error: {message, type, code}}`): the OpenAI clients that
 * services use show `error.message`, so the message says what to do.
 */
function openaiError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { message, type: "roomservice_error", code } });
}

/**
 * The LLM proxy, as MeshAgent offers it: `{MESHAGENT_API_URL}/openai/v1/*`, authenticated
 * with a participant token (a service's own `MESHAGENT_TOKEN`) whose api grant includes
 * `llm`, forwarded with streaming to the upstream the operator configured, with the
 * provider's key (a project secret) added here — so the key never enters a container.
 * Usage (requests, tokens from the upstream's `usage` object) is recorded per room.
 *
 * Errors (OpenAI shape): 401 bad/missing token, 403 no `llm` grant / model not granted /
 * service token of an ended session, 503 no upstream or its key secret missing, 502 the
 * upstream failed or timed out.
 */
export function registerLlmProxy(app: FastifyInstance, d: LlmProxyDeps): void {
  const doFetch = d.fetch ?? fetch;
  const headersTimeoutMs = d.headersTimeoutMs ?? LLM_HEADERS_TIMEOUT_MS;
  const log = d.ctx.logger.child({ component: "llm-proxy" });

  async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<Principal | undefined> {
    const h = req.headers.authorization;
    if (typeof h !== "string" || !/^Bearer\s+\S+/i.test(h)) {
      openaiError(reply, 401, "missing_token", "missing Authorization: Bearer <participant token> (a service uses its MESHAGENT_TOKEN)");
      return undefined;
    }
    let p: Principal;
    try {
      p = await verifyParticipantToken(d.ctx.secret, h.replace(/^Bearer\s+/i, "").trim(), Math.floor(d.ctx.clock.now() / 1000));
    } catch (err) {
      if (err instanceof AuthError) {
        openaiError(reply, 401, "invalid_token", err.message);
        return undefined;
      }
      throw err;
    }
    if (p.room === undefined) {
      openaiError(reply, 403, "no_room", "token has no room grant; LLM usage is accounted to a room");
      return undefined;
    }
    if (p.api?.llm === undefined || p.api.llm === null || typeof p.api.llm !== "object") {
      openaiError(reply, 403, "no_llm_grant", `token's api grant does not include "llm" (mint it with role agent, or add an llm grant)`);
      return undefined;
    }
    if (p.service !== undefined && d.rooms.get(p.room)?.session?.id !== p.service.sessionId) {
      openaiError(reply, 403, "session_ended", `service token belongs to session ${p.service.sessionId}, which has ended`);
      return undefined;
    }
    return p;
  }

  /** The SDK's LLMGrant.canUseModel: `models` patterns over "openai/<model>", `*` suffix wildcard. */
  function modelAllowed(p: Principal, model: string | undefined): boolean {
    const patterns = (p.api?.llm as { models?: unknown } | undefined)?.models;
    if (!Array.isArray(patterns) || model === undefined) return true;
    const value = `openai/${model.trim()}`;
    return patterns.some((pt) => typeof pt === "string" && (pt === value || (pt.endsWith("*") && value.startsWith(pt.slice(0, -1)))));
  }

  app.register(async (sub) => {
    // Bodies are forwarded byte for byte (JSON and multipart alike), so nothing parses them
    // except the model name peeked at below.
    sub.removeAllContentTypeParsers();
    sub.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: LLM_MAX_BODY_BYTES }, (_req, body, done) => done(null, body));
    // The token is checked before the body is read: a caller with a wrong token gets 401,
    // not 413, and the server reads nothing for it.
    const principals = new WeakMap<FastifyRequest, Principal>();
    sub.addHook("onRequest", async (req, reply) => {
      const p = await authenticate(req, reply);
      if (p === undefined) return reply;
      principals.set(req, p);
    });
    sub.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      if (err.statusCode !== 413) throw err;
      return openaiError(reply, 413, "request_too_large", `request body is too large: the LLM proxy's limit is ${LLM_MAX_BODY_BYTES / (1024 * 1024)} MiB (${LLM_MAX_BODY_BYTES} bytes)`);
    });

    sub.all("/openai/v1/*", { bodyLimit: LLM_MAX_BODY_BYTES }, async (req, reply) => {
      const p = principals.get(req)!;
      const room = p.room!;
      const upstream = await d.llm.getUpstream(d.ctx.projectId);
      if (upstream === undefined) {
        return openaiError(reply, 503, "llm_not_configured",
          "no LLM upstream is configured for this server: run `roomservice llm set --base-url URL --api-key-secret NAME` (or PUT /accounts/projects/{p}/llm)");
      }
      let key: string | null = null;
      if (upstream.apiKeySecret !== null) {
        const v = await d.secrets.resolveValue(d.ctx.projectId, room, upstream.apiKeySecret);
        if (v === undefined) {
          return openaiError(reply, 503, "llm_key_missing",
            `the LLM upstream's key secret ${JSON.stringify(upstream.apiKeySecret)} does not exist: run \`roomservice secret set ${upstream.apiKeySecret}\``);
        }
        key = v.toString("utf8").trim();
      }
      const body = Buffer.isBuffer(req.body) ? req.body : undefined;
      const model = peekModel(req.headers["content-type"], body);
      if (!modelAllowed(p, model)) {
        return openaiError(reply, 403, "model_not_granted", `token's llm grant does not allow model ${JSON.stringify(`openai/${model}`)}`);
      }

      const rest = (req.params as { "*": string })["*"];
      const qs = req.url.includes("?") ? req.url.slice(req.url.indexOf("?")) : "";
      const target = `${upstream.baseUrl.replace(/\/+$/, "")}/${rest}${qs}`;
      const headers = new Headers();
      for (const name of FORWARD_REQUEST_HEADERS) {
        const v = req.headers[name];
        if (typeof v === "string") headers.set(name, v);
      }
      if (key !== null) headers.set("authorization", `Bearer ${key}`);

      // Abort the upstream call when the caller goes away, or when headers take too long.
      const abort = new AbortController();
      const onClose = () => abort.abort(new Error("caller disconnected"));
      reply.raw.on("close", onClose);
      const timer = setTimeout(() => abort.abort(new Error(`upstream sent no response within ${headersTimeoutMs / 1000} s`)), headersTimeoutMs);
      const scanner = new UsageScanner();
      const started = d.ctx.clock.now();
      const record = (ok: boolean) => {
        const u = scanner.usage();
        d.llm.addUsage(d.ctx.projectId, { room, ok, promptTokens: u.promptTokens, completionTokens: u.completionTokens, at: d.ctx.clock.now() });
        log.info({ room, identity: p.identity, model, status: reply.statusCode, ms: d.ctx.clock.now() - started, ...u }, "llm request");
      };

      let res: Response;
      try {
        res = await doFetch(target, {
          method: req.method,
          headers,
          body: req.method === "GET" || req.method === "HEAD" ? undefined : body === undefined ? undefined : new Uint8Array(body),
          signal: abort.signal,
        });
      } catch (err) {
        clearTimeout(timer);
        reply.raw.off("close", onClose);
        const why = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? abort.signal.reason) : (err as Error).message;
        reply.code(502);
        record(false);
        // The target URL is the operator's; it is safe to name (it never carries the key).
        return openaiError(reply, 502, "upstream_unreachable", `LLM upstream ${upstream.baseUrl} failed: ${why}`);
      }
      clearTimeout(timer);
      reply.code(res.status);
      for (const name of FORWARD_RESPONSE_HEADERS) {
        const v = res.headers.get(name);
        if (v !== null) reply.header(name, v);
      }
      if (res.body === null) {
        reply.raw.off("close", onClose);
        record(res.ok);
        return reply.send();
      }
      const stream = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
      stream.on("data", (chunk: Buffer) => scanner.push(chunk));
      stream.once("end", () => {
        reply.raw.off("close", onClose);
        record(res.ok);
      });
      stream.once("error", (err) => {
        reply.raw.off("close", onClose);
        log.warn({ room, err: err.message }, "llm upstream stream failed");
        record(false);
      });
      return reply.send(stream);
    });
  });
}

/** The `model` of a JSON request, if any (used only for the grant check and the log). */
function peekModel(contentType: string | undefined, body: Buffer | undefined): string | undefined {
  if (body === undefined || body.length === 0 || !/json/i.test(contentType ?? "")) return undefined;
  try {
    const j = JSON.parse(body.toString("utf8")) as { model?: unknown };
    return typeof j.model === "string" ? j.model : undefined;
  } catch {
    return undefined;
  }
}
