import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerContext } from "../context.ts";
import { badRequest } from "../http/errors.ts";
import { llmUpstreamBody, parseBody } from "../http/bodies.ts";
import type { SecretStore } from "../services/secret-store.ts";
import type { LlmStore, LlmUpstream } from "./llm-store.ts";

export interface LlmRoutesDeps {
  ctx: ServerContext;
  llm: LlmStore;
  secrets: SecretStore;
}

type Req = FastifyRequest<{ Params: { project: string }; Body: unknown; Querystring: { room?: string } }>;

function upstreamJson(u: LlmUpstream | undefined): Record<string, unknown> {
  return u === undefined
    ? { configured: false, base_url: null, api_key_secret: null, updated_at: null }
    : { configured: true, base_url: u.baseUrl, api_key_secret: u.apiKeySecret, updated_at: new Date(u.updatedAt).toISOString() };
}

/**
 * Admin REST for the LLM proxy:
 * - `GET /accounts/projects/{p}/llm` → `{configured, base_url, api_key_secret, updated_at}`
 * - `PUT /accounts/projects/{p}/llm` `{base_url, api_key_secret?}` → the same (400 with the
 *   field named for a bad URL or a secret that does not exist)
 * - `DELETE /accounts/projects/{p}/llm` → 204 (services then get 503 "not configured")
 * - `GET /accounts/projects/{p}/llm/usage[?room=R]` → `{usage: [{room, requests, errors,
 *   prompt_tokens, completion_tokens, total_tokens, last_used_at}]}`
 */
export function registerLlmRoutes(app: FastifyInstance, d: LlmRoutesDeps): void {
  // Inside the authenticated `/accounts/projects/:project` scope (http/auth.ts checks admin and project).
  const base = "/llm";

  app.get(base, async () => {
    return upstreamJson(await d.llm.getUpstream(d.ctx.projectId));
  });

  app.put(base, async (req: Req) => {
    const { base_url: baseUrl, api_key_secret: secret } = parseBody(llmUpstreamBody, req.body, "LLM upstream", "a JSON object {base_url, api_key_secret?}");
    let url: URL;
    try {
      if (typeof baseUrl !== "string") throw new Error("missing");
      url = new URL(baseUrl);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("scheme");
    } catch {
      throw badRequest(`base_url: expected an http(s) URL such as https://api.openai.com/v1, got ${JSON.stringify(baseUrl ?? null)}`);
    }
    if (url.username !== "" || url.password !== "") {
      throw badRequest("base_url: credentials in the URL are not allowed (they would be shown by every API); put the key in a secret and name it in api_key_secret");
    }
    const secretName = typeof secret === "string" ? secret : null;
    if (secretName !== null && (await d.secrets.findByName(d.ctx.projectId, null, secretName)) === undefined) {
      throw badRequest(`api_key_secret: project secret ${JSON.stringify(secretName)} does not exist; create it first (roomservice secret set ${secretName})`);
    }
    const u = await d.llm.setUpstream(d.ctx.projectId, { baseUrl: url.toString().replace(/\/+$/, ""), apiKeySecret: secretName }, d.ctx.clock.now());
    d.ctx.logger.info({ base_url: u.baseUrl, api_key_secret: u.apiKeySecret }, "llm upstream set");
    return upstreamJson(u);
  });

  app.delete(base, async (_req: Req, reply) => {
    await d.llm.clearUpstream(d.ctx.projectId);
    return reply.code(204).send();
  });

  app.get(`${base}/usage`, async (req: Req) => {
    const room = typeof req.query.room === "string" && req.query.room !== "" ? req.query.room : undefined;
    return {
      usage: (await d.llm.usage(d.ctx.projectId, room)).map((u) => ({
        room: u.room, requests: u.requests, errors: u.errors, prompt_tokens: u.promptTokens,
        completion_tokens: u.completionTokens, total_tokens: u.promptTokens + u.completionTokens,
        last_used_at: new Date(u.lastUsedAt).toISOString(),
      })),
    };
  });
}
