import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { ApiScope } from "./scope.ts";

export type Role = "user" | "agent" | "tool";
export const ROLES: readonly Role[] = ["user", "agent", "tool"];

/** Who is calling, derived from a verified participant token. */
export interface Principal {
  identity: string;
  role: Role;
  room: string | undefined;
  api: ApiScope | undefined;
  projectId: string | undefined;
  /** Set for tokens minted for a service container: such connections never keep a room alive. */
  service: { sessionId: string; serviceId: string } | undefined;
  expiresAt: number | undefined;
}

/** Rejection at the handshake or on an HTTP call; `reason` is safe to show the caller. */
export class AuthError extends Error {
  override name = "AuthError";
}

/**
 * The credential is not a JWT at all (a mistyped or truncated key): the message says what was
 * expected; callers that also take API keys (REST, Studio sign-in) say so in their own words.
 */
export class MalformedTokenError extends AuthError {
  override name = "MalformedTokenError";
}

/**
 * Default api scopes for `roomservice token`, mirroring the SDK's ApiScope.agentDefault /
 * userDefault (empty objects mean "granted with defaults").
 */
export function defaultApiScope(role: Role): ApiScope {
  const base: ApiScope = {
    livekit: {}, queues: {}, messaging: {}, dataset: {}, memory: {}, sync: {}, storage: {},
    containers: {}, developer: {}, agents: {}, secrets: {}, services: {},
  };
  if (role !== "user") base.llm = {};
  return base;
}

export interface MintOptions {
  identity: string;
  room: string;
  role: Role;
  api?: ApiScope;
  ttlSeconds?: number;
  projectId?: string;
  service?: { sessionId: string; serviceId: string };
  nowSeconds?: number;
}

const encoder = new TextEncoder();

export async function mintParticipantToken(secret: string, o: MintOptions): Promise<string> {
  const payload: Record<string, unknown> = {
    name: o.identity,
    grants: [
      { name: "room", scope: o.room },
      { name: "role", scope: o.role },
      { name: "api", scope: o.api ?? defaultApiScope(o.role) },
    ],
    version: "0.39.9",
  };
  if (o.projectId !== undefined) payload.sub = o.projectId;
  if (o.service !== undefined) payload.roomservice = { kind: "service", session_id: o.service.sessionId, service_id: o.service.serviceId };
  const now = o.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (o.ttlSeconds !== undefined) payload.exp = now + o.ttlSeconds;
  payload.iat = now;
  return await new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(encoder.encode(secret));
}

/** Verifies signature and expiry and turns the SDK's grant list into a Principal. */
export async function verifyParticipantToken(secret: string, jwt: string, nowSeconds?: number): Promise<Principal> {
  let payload: Record<string, unknown>;
  try {
    const opts: Parameters<typeof jwtVerify>[2] = { algorithms: ["HS256"] };
    if (nowSeconds !== undefined) opts.currentDate = new Date(nowSeconds * 1000);
    ({ payload } = await jwtVerify(jwt, encoder.encode(secret), opts));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new AuthError("token expired");
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new AuthError("token signature invalid (signed with a different secret?)");
    if (err instanceof joseErrors.JOSEAlgNotAllowed) throw new AuthError("token algorithm not allowed; use HS256");
    if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) {
      throw new MalformedTokenError(`token is not a valid JWT (${(err as Error).message}): expected a JWT signed with the project secret (header.payload.signature, as "roomservice token" prints)`);
    }
    throw new AuthError(`token invalid: ${(err as Error).message}`);
  }
  const name = payload.name;
  if (typeof name !== "string" || name.length === 0) throw new AuthError("token has no participant name (claim `name`)");
  const grants = Array.isArray(payload.grants) ? (payload.grants as unknown[]) : [];
  let room: string | undefined;
  let role: Role = "user";
  let api: ApiScope | undefined;
  for (const g of grants) {
    if (typeof g !== "object" || g === null) continue;
    const { name: gname, scope } = g as { name?: unknown; scope?: unknown };
    if (gname === "room" && typeof scope === "string") room = scope;
    else if (gname === "role" && typeof scope === "string") {
      if (!(ROLES as readonly string[]).includes(scope)) throw new AuthError(`token role "${scope}" is not one of ${ROLES.join(", ")}`);
      role = scope as Role;
    } else if (gname === "api" && typeof scope === "object" && scope !== null && !Array.isArray(scope)) {
      api = scope as ApiScope;
    }
  }
  let service: Principal["service"];
  const rs = payload.roomservice;
  if (typeof rs === "object" && rs !== null) {
    const r = rs as Record<string, unknown>;
    if (r.kind === "service" && typeof r.session_id === "string" && typeof r.service_id === "string") {
      service = { sessionId: r.session_id, serviceId: r.service_id };
    }
  }
  return {
    identity: name,
    role,
    room,
    api,
    projectId: typeof payload.sub === "string" ? payload.sub : undefined,
    service,
    expiresAt: typeof payload.exp === "number" ? payload.exp : undefined,
  };
}

/** Parses "90s", "15m", "1h", "7d" or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new Error(`invalid duration "${text}": expected a number with an optional unit ms, s, m, h or d (e.g. 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const seconds = { ms: n / 1000, s: n, m: n * 60, h: n * 3600, d: n * 86400 }[unit]!;
  return seconds;
}
