import { createHash, timingSafeEqual } from "node:crypto";

/** Who a browser session acts as, and which API key (if any) it was opened with. */
export interface BrowserSession {
  identity: string;
  /** The API key that opened it: the session dies when that key is deleted. null for login codes. */
  apiKeyId: string | null;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface BrowserSessionLimits {
  /** Sessions kept at once; the least recently used is forgotten beyond this. */
  maxSessions: number;
  /** A session unused for this long is forgotten. */
  idleMs: number;
  /** A session is forgotten this long after sign-in, used or not. */
  absoluteMs: number;
  /** One-time login codes kept at once (serve prints one per start). */
  maxLoginCodes: number;
  /** How long a login code works (10 min). */
  loginCodeMs: number;
}

export const DEFAULT_BROWSER_SESSION_LIMITS: BrowserSessionLimits = {
  maxSessions: 1000,
  idleMs: 12 * 3600_000,
  absoluteMs: 7 * 24 * 3600_000,
  maxLoginCodes: 16,
  loginCodeMs: 10 * 60_000,
};

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * What Studio's sign-in sessions offer the HTTP layer. The server keeps them in its
 * control-plane database (SharedBrowserSessions), so a sign-in survives a restart and works on
 * every node of a cluster. Results may be promises; callers await them. `issueLoginCode` stays
 * synchronous because `serve` prints the code at once.
 */
export interface BrowserSessionBackend {
  readonly limits: BrowserSessionLimits;
  /** Opens a session; returns its id (the cookie value) and the session. */
  create(identity: string, apiKeyId: string | null): { id: string; session: BrowserSession } | Promise<{ id: string; session: BrowserSession }>;
  /** The live session for a cookie value (touching it), or undefined when unknown or expired. */
  get(id: string): BrowserSession | undefined | Promise<BrowserSession | undefined>;
  delete(id: string): void | Promise<void>;
  /** Forgets every session opened with an API key (the key was deleted). */
  revokeApiKey(apiKeyId: string): void | Promise<void>;
  /** A one-time login code: works once, for `limits.loginCodeMs`. */
  issueLoginCode(): string;
  /** Consumes a login code: true once for a valid, unexpired code, false ever after. */
  redeemLoginCode(code: string): boolean | Promise<boolean>;
}

/**
 * Constant-time comparison of a presented CSRF token with the session's. Each session has a
 * CSRF token that cookie-authenticated writes must echo in `X-CSRF-Token` (OWASP's
 * "synchronizer token" pattern; SameSite=Strict alone leaves same-site subdomains).
 */
export function csrfMatches(session: BrowserSession, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(sha256(session.csrfToken), sha256(presented));
}
