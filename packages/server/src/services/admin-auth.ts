import type { FastifyReply, FastifyRequest } from "fastify";
import { AuthError, verifyParticipantToken } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import type { ApiKeyStore } from "./api-keys.ts";

export interface AdminPrincipal {
  identity: string;
  via: "api-key" | "jwt";
}

/**
 * Admin auth for the REST control plane: `Authorization: Bearer <api key>` or a JWT signed
 * with the project secret whose api grant includes `admin`. Replies 401/403 with a reason
 * and returns undefined when the caller is not an admin.
 */
export async function requireAdmin(ctx: ServerContext, keys: ApiKeyStore, req: FastifyRequest, reply: FastifyReply): Promise<AdminPrincipal | undefined> {
  const h = req.headers.authorization;
  if (typeof h !== "string" || !/^Bearer\s+\S+/i.test(h)) {
    await reply.code(401).header("www-authenticate", "Bearer").send({ error: "missing Authorization: Bearer <api key or admin JWT>" });
    return undefined;
  }
  const token = h.replace(/^Bearer\s+/i, "").trim();
  if (token.startsWith("rsk_")) {
    const key = keys.verify(token);
    if (key === undefined) {
      await reply.code(401).send({ error: "API key not recognized (revoked, or from another server?)" });
      return undefined;
    }
    if (key.project !== ctx.projectId) {
      await reply.code(403).send({ error: `API key belongs to project ${key.project}` });
      return undefined;
    }
    return { identity: `apikey:${key.name}`, via: "api-key" };
  }
  try {
    const p = await verifyParticipantToken(ctx.secret, token, Math.floor(ctx.clock.now() / 1000));
    // A service token lives as long as its session (it has no expiry of its own).
    if (p.service !== undefined && ctx.sessions.get(p.service.sessionId)?.endedAt !== null) {
      await reply.code(401).send({ error: `service token belongs to session ${p.service.sessionId}, which has ended` });
      return undefined;
    }
    const admin = p.api?.admin;
    if (admin === undefined || admin === null || typeof admin !== "object") {
      await reply.code(403).send({ error: "token's api grant does not include admin" });
      return undefined;
    }
    return { identity: p.identity, via: "jwt" };
  } catch (err) {
    if (err instanceof AuthError) {
      await reply.code(401).send({ error: err.message });
      return undefined;
    }
    throw err;
  }
}
