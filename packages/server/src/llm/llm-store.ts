import type { Logger } from "pino";
import type { Store } from "../store/db.ts";
import { WriteQueue } from "../store/write-queue.ts";

/**
 * Where the LLM proxy forwards to. `apiKeySecret` names a project secret (never the key
 * itself), so the provider's key lives only in the encrypted secret store and in the
 * server's memory while a request is forwarded.
 */
export interface LlmUpstream {
  baseUrl: string;
  apiKeySecret: string | null;
  updatedAt: number;
}

/** Usage of the proxy by one room: counted per request, tokens from the upstream's `usage`. */
export interface LlmUsage {
  room: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  lastUsedAt: number;
}

/** One usage record to add: what a single proxied request cost. */
export interface LlmUsageDelta {
  room: string;
  ok: boolean;
  promptTokens: number;
  completionTokens: number;
  at: number;
}

/** The proxy's configuration (one upstream per project) and per-room usage, in the control-plane store. */
export class LlmStore {
  private readonly store: Store;
  private readonly writes: WriteQueue;

  constructor(store: Store, logger: Logger) {
    this.store = store;
    this.writes = new WriteQueue((err) => logger.error({ err: (err as Error).message }, "recording LLM usage failed"));
    store.addWriter(() => this.writes.settled());
  }

  async getUpstream(project: string): Promise<LlmUpstream | undefined> {
    const r = await this.store.db.selectFrom("llm_upstreams").select(["base_url", "api_key_secret", "updated_at"]).where("project", "=", project).executeTakeFirst();
    return r === undefined ? undefined : { baseUrl: r.base_url, apiKeySecret: r.api_key_secret, updatedAt: r.updated_at };
  }

  async setUpstream(project: string, u: { baseUrl: string; apiKeySecret: string | null }, now: number): Promise<LlmUpstream> {
    await this.store.db
      .insertInto("llm_upstreams")
      .values({ project, base_url: u.baseUrl, api_key_secret: u.apiKeySecret, updated_at: now })
      .onConflict((oc) => oc.column("project").doUpdateSet((eb) => ({
        base_url: eb.ref("excluded.base_url"), api_key_secret: eb.ref("excluded.api_key_secret"), updated_at: eb.ref("excluded.updated_at"),
      })))
      .execute();
    return { ...u, updatedAt: now };
  }

  async clearUpstream(project: string): Promise<boolean> {
    const r = await this.store.db.deleteFrom("llm_upstreams").where("project", "=", project).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * Adds one request's cost atomically (concurrent requests, from any node, all count). The
   * proxy does not wait for it; usage() sees it.
   */
  addUsage(project: string, d: LlmUsageDelta): void {
    this.writes.push(() => this.store.db
      .insertInto("llm_usage")
      .values({ project, room: d.room, requests: 1, errors: d.ok ? 0 : 1, prompt_tokens: d.promptTokens, completion_tokens: d.completionTokens, last_used_at: d.at })
      .onConflict((oc) => oc.columns(["project", "room"]).doUpdateSet((eb) => ({
        requests: eb("llm_usage.requests", "+", 1),
        errors: eb("llm_usage.errors", "+", eb.ref("excluded.errors")),
        prompt_tokens: eb("llm_usage.prompt_tokens", "+", eb.ref("excluded.prompt_tokens")),
        completion_tokens: eb("llm_usage.completion_tokens", "+", eb.ref("excluded.completion_tokens")),
        last_used_at: eb.ref("excluded.last_used_at"),
      })))
      .execute());
  }

  async usage(project: string, room?: string): Promise<LlmUsage[]> {
    await this.writes.settled();
    let q = this.store.db.selectFrom("llm_usage").selectAll().where("project", "=", project);
    if (room !== undefined) q = q.where("room", "=", room);
    const rows = await q.orderBy("room").execute();
    return rows.map((r) => ({
      room: r.room, requests: r.requests, errors: r.errors, promptTokens: r.prompt_tokens,
      completionTokens: r.completion_tokens, lastUsedAt: r.last_used_at,
    }));
  }
}
