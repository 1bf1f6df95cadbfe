import { AuthError, verifyParticipantToken } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import { RoomserviceError } from "../http/errors.ts";
import type { ApiKeyStore } from "./api-keys.ts";

export interface AdminPrincipal {
  /** `apikey:<name>` for API keys, the token's identity for JWTs, the session's identity for cookies. */
  identity: string;
  via: "api-key" | "jwt" | "cookie";
  /** The API key used (directly or by the browser session that it opened), if any. */
  apiKeyId: string | null;
}

/**
 * The participant name an admin joins a room as (`POST .../rooms/{room}/connect`): an API
 * key's name without the `apikey:` prefix (a participant name is what other participants and
 * thread documents show), a JWT's or login's identity as it is. Studio shows this name
 * wherever it means "you in the room" (`participant_name` of `/auth/session`).
 */
export function participantName(p: Pick<AdminPrincipal, "identity" | "via">): string {
  return p.via === "jwt" ? p.identity : p.identity.replace(/^apikey:/, "");
}

/**
 * Admin credentials for the REST control plane: an API key (`rsk_…`) or a JWT signed with the
 * project secret whose api grant includes `admin`. Throws RoomserviceError 401 (unknown or
 * expired credential) or 403 (valid, but not an admin of this project).
 */
export async function verifyAdminCredential(ctx: ServerContext, keys: ApiKeyStore, token: string): Promise<AdminPrincipal> {
  if (token.startsWith("rsk_")) {
    const key = await keys.verify(token);
    if (key === undefined) throw new RoomserviceError(401, "unauthenticated", "API key not recognized (revoked, or from another server?)");
    if (key.project !== ctx.projectId) throw new RoomserviceError(403, "forbidden", `API key belongs to project ${key.project}`);
    return { identity: `apikey:${key.name}`, via: "api-key", apiKeyId: key.id };
  }
  try {
    const p = await verifyParticipantToken(ctx.secret, token, Math.floor(ctx.clock.now() / 1000));
    // A service token lives as long as its session (it has no expiry of its own).
    if (p.service !== undefined && (await ctx.sessions.get(p.service.sessionId))?.endedAt !== null) {
      throw new RoomserviceError(401, "unauthenticated", `service token belongs to session ${p.service.sessionId}, which has ended`);
    }
    const admin = p.api?.admin;
    if (admin === undefined || admin === null || typeof admin !== "object") {
      throw new RoomserviceError(403, "forbidden", "token's api grant does not include admin");
    }
    return { identity: p.identity, via: "jwt", apiKeyId: null };
  } catch (err) {
    if (err instanceof AuthError) throw new RoomserviceError(401, "unauthenticated", err.message);
    throw err;
  }
}
