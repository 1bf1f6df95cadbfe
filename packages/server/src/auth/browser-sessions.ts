import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../config.ts";

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
 * Where Studio's sign-in sessions live: in this process (BrowserSessions, one node) or in the
 * shared database (SharedBrowserSessions, `serve --cluster`: a sign-in on one node works on
 * every node). Results may be promises; callers await them. `issueLoginCode` stays
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
 * Studio's sign-in sessions, kept server-side in memory (bounded, expiring): the browser holds
 * only an opaque id in an HttpOnly SameSite=Strict cookie, never the API key. Ids and login
 * codes are stored hashed so a heap dump does not hand out live sessions. Each session has a
 * CSRF token that cookie-authenticated writes must echo in `X-CSRF-Token` (OWASP's
 * "synchronizer token" pattern; SameSite=Strict alone leaves same-site subdomains).
 */
export class BrowserSessions implements BrowserSessionBackend {
  /** By sha256(id) hex; Map order = least recently used first. */
  private readonly sessions = new Map<string, BrowserSession>();
  /** sha256(code) hex → expiry (ms). */
  private readonly codes = new Map<string, number>();
  private readonly clock: Clock;
  readonly limits: BrowserSessionLimits;

  constructor(clock: Clock, limits: Partial<BrowserSessionLimits> = {}) {
    this.clock = clock;
    this.limits = { ...DEFAULT_BROWSER_SESSION_LIMITS, ...limits };
  }

  /** Opens a session; returns its id (the cookie value) and the session. */
  create(identity: string, apiKeyId: string | null): { id: string; session: BrowserSession } {
    this.prune();
    while (this.sessions.size >= this.limits.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString("base64url");
    const now = this.clock.now();
    const session: BrowserSession = { identity, apiKeyId, csrfToken: randomBytes(24).toString("base64url"), createdAt: now, lastSeenAt: now };
    this.sessions.set(sha256(id).toString("hex"), session);
    return { id, session };
  }

  /** The live session for a cookie value (touching it), or undefined when unknown or expired. */
  get(id: string): BrowserSession | undefined {
    const key = sha256(id).toString("hex");
    const s = this.sessions.get(key);
    if (s === undefined) return undefined;
    const now = this.clock.now();
    if (now - s.lastSeenAt > this.limits.idleMs || now - s.createdAt > this.limits.absoluteMs) {
      this.sessions.delete(key);
      return undefined;
    }
    s.lastSeenAt = now;
    this.sessions.delete(key);
    this.sessions.set(key, s); // most recently used last
    return s;
  }

  delete(id: string): void {
    this.sessions.delete(sha256(id).toString("hex"));
  }

  /** Forgets every session opened with an API key (the key was deleted). */
  revokeApiKey(apiKeyId: string): void {
    for (const [k, s] of this.sessions) if (s.apiKeyId === apiKeyId) this.sessions.delete(k);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** A one-time login code (for `serve`'s sign-in URL): works once, for `loginCodeMs`. */
  issueLoginCode(): string {
    this.prune();
    while (this.codes.size >= this.limits.maxLoginCodes) this.codes.delete(this.codes.keys().next().value!);
    const code = randomBytes(24).toString("base64url");
    this.codes.set(sha256(code).toString("hex"), this.clock.now() + this.limits.loginCodeMs);
    return code;
  }

  /** Consumes a login code: true once for a valid, unexpired code, false ever after. */
  redeemLoginCode(code: string): boolean {
    const key = sha256(code).toString("hex");
    const expires = this.codes.get(key);
    if (expires === undefined) return false;
    this.codes.delete(key);
    return this.clock.now() <= expires;
  }

  /** Constant-time comparison of a presented CSRF token. */
  static csrfMatches(session: BrowserSession, presented: string | undefined): boolean {
    if (presented === undefined) return false;
    const a = sha256(session.csrfToken);
    const b = sha256(presented);
    return timingSafeEqual(a, b);
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [k, s] of this.sessions) if (now - s.lastSeenAt > this.limits.idleMs || now - s.createdAt > this.limits.absoluteMs) this.sessions.delete(k);
    for (const [k, exp] of this.codes) if (now > exp) this.codes.delete(k);
  }
}
