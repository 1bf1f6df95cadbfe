import { createHash, randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../config.ts";
import type { Store } from "../store/db.ts";
import { DEFAULT_BROWSER_SESSION_LIMITS, type BrowserSession, type BrowserSessionBackend, type BrowserSessionLimits } from "./browser-sessions.ts";

const sha256hex = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * A session's `last_seen_at` is written at most this often: idle expiry is hours, so a write
 * per request would only load the database.
 */
const TOUCH_EVERY_MS = 60_000;

/**
 * Studio's sign-in sessions in the control-plane database (`browser_sessions`, `login_codes`;
 * migration 6; SQLite or PostgreSQL): a sign-in survives a server restart, and a browser
 * signed in through one node of `serve --cluster` is signed in on every node, so a load
 * balancer needs no cookie affinity. The browser holds only an opaque id in an HttpOnly
 * SameSite=Strict cookie, never the API key. Only SHA-256 of the cookie value and of login codes is stored (a database
 * dump hands out no live session), idle and absolute expiry, a bound on live sessions
 * (least recently seen dropped first), sessions die with the API key that opened them, a
 * login code works once (one DELETE … RETURNING: two nodes cannot both redeem it). Times are
 * this node's clock in ms; lifetimes are hours, so node clock skew does not matter.
 */
export class SharedBrowserSessions implements BrowserSessionBackend {
  readonly limits: BrowserSessionLimits;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Login codes issued here whose row is still being written (redeem waits for them). */
  private readonly pendingCodes = new Set<Promise<void>>();

  constructor(store: Store, clock: Clock, logger: Logger, limits: Partial<BrowserSessionLimits> = {}) {
    this.store = store;
    this.clock = clock;
    this.log = logger;
    this.limits = { ...DEFAULT_BROWSER_SESSION_LIMITS, ...limits };
  }

  async create(identity: string, apiKeyId: string | null): Promise<{ id: string; session: BrowserSession }> {
    await this.prune();
    const id = randomBytes(32).toString("base64url");
    const now = this.clock.now();
    const session: BrowserSession = { identity, apiKeyId, csrfToken: randomBytes(24).toString("base64url"), createdAt: now, lastSeenAt: now };
    await this.store.db.insertInto("browser_sessions").values({
      id_hash: sha256hex(id), identity, api_key_id: apiKeyId, csrf_token: session.csrfToken,
      created_at: now, last_seen_at: now, expires_at: now + this.limits.absoluteMs,
    }).execute();
    // Bounded like the in-memory store: beyond maxSessions the least recently seen go.
    const { n } = await this.store.db.selectFrom("browser_sessions").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
    const excess = Number(n) - this.limits.maxSessions;
    if (excess > 0) {
      const oldest = await this.store.db.selectFrom("browser_sessions").select("id_hash").orderBy("last_seen_at").orderBy("id_hash").limit(excess).execute();
      await this.store.db.deleteFrom("browser_sessions").where("id_hash", "in", oldest.map((r) => r.id_hash)).execute();
    }
    return { id, session };
  }

  async get(id: string): Promise<BrowserSession | undefined> {
    const key = sha256hex(id);
    const row = await this.store.db.selectFrom("browser_sessions").selectAll().where("id_hash", "=", key).executeTakeFirst();
    if (row === undefined) return undefined;
    const now = this.clock.now();
    if (now - row.last_seen_at > this.limits.idleMs || now >= row.expires_at || now - row.created_at > this.limits.absoluteMs) {
      await this.store.db.deleteFrom("browser_sessions").where("id_hash", "=", key).execute();
      return undefined;
    }
    if (now - row.last_seen_at >= TOUCH_EVERY_MS) {
      await this.store.db.updateTable("browser_sessions").set({ last_seen_at: now }).where("id_hash", "=", key).execute();
    }
    return { identity: row.identity, apiKeyId: row.api_key_id, csrfToken: row.csrf_token, createdAt: row.created_at, lastSeenAt: now };
  }

  async delete(id: string): Promise<void> {
    await this.store.db.deleteFrom("browser_sessions").where("id_hash", "=", sha256hex(id)).execute();
  }

  async revokeApiKey(apiKeyId: string): Promise<void> {
    await this.store.db.deleteFrom("browser_sessions").where("api_key_id", "=", apiKeyId).execute();
  }

  /** Returns the code at once; its row is written in the background (redeem waits for it on this node). */
  issueLoginCode(): string {
    const code = randomBytes(24).toString("base64url");
    const write = this.storeLoginCode(code).catch((err: Error) => this.log.error({ err: err.message }, "could not store a Studio login code; it will not work"));
    this.pendingCodes.add(write);
    void write.finally(() => this.pendingCodes.delete(write));
    return code;
  }

  /**
   * A login code whose row is written before this resolves: for `roomservice login-link`,
   * which writes into the server's database and exits (a running server redeems it).
   */
  async createLoginCode(): Promise<string> {
    const code = randomBytes(24).toString("base64url");
    await this.storeLoginCode(code);
    return code;
  }

  /** Stores sha256(code) with its expiry; the newest `maxLoginCodes` are kept. */
  private async storeLoginCode(code: string): Promise<void> {
    const now = this.clock.now();
    await this.store.db.deleteFrom("login_codes").where("expires_at", "<", now).execute();
    await this.store.db.insertInto("login_codes").values({ code_hash: sha256hex(code), expires_at: now + this.limits.loginCodeMs }).execute();
    const rows = await this.store.db.selectFrom("login_codes").select(["code_hash"]).orderBy("expires_at", "desc").orderBy("code_hash").execute();
    const drop = rows.slice(this.limits.maxLoginCodes).map((r) => r.code_hash);
    if (drop.length > 0) await this.store.db.deleteFrom("login_codes").where("code_hash", "in", drop).execute();
  }

  async redeemLoginCode(code: string): Promise<boolean> {
    await Promise.all([...this.pendingCodes]);
    const row = await this.store.db.deleteFrom("login_codes").where("code_hash", "=", sha256hex(code)).returning("expires_at").executeTakeFirst();
    return row !== undefined && this.clock.now() <= row.expires_at;
  }

  /** Drops expired sessions (at each sign-in, so the table never keeps dead rows for long). */
  private async prune(): Promise<void> {
    const now = this.clock.now();
    await this.store.db.deleteFrom("browser_sessions")
      .where((eb) => eb.or([eb("expires_at", "<=", now), eb("last_seen_at", "<", now - this.limits.idleMs)]))
      .execute();
  }
}
