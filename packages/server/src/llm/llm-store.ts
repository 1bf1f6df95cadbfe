import type { Store } from "../store/db.ts";

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

/** The proxy's configuration (one upstream per project) and per-room usage, in SQLite. */
export class LlmStore {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  getUpstream(project: string): LlmUpstream | undefined {
    const r = this.store.db.prepare("SELECT base_url, api_key_secret, updated_at FROM llm_upstreams WHERE project = ?").get(project) as
      | { base_url: string; api_key_secret: string | null; updated_at: number }
      | undefined;
    return r === undefined ? undefined : { baseUrl: r.base_url, apiKeySecret: r.api_key_secret, updatedAt: r.updated_at };
  }

  setUpstream(project: string, u: { baseUrl: string; apiKeySecret: string | null }, now: number): LlmUpstream {
    this.store.db
      .prepare(
        `INSERT INTO llm_upstreams (project, base_url, api_key_secret, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(project) DO UPDATE SET base_url = excluded.base_url, api_key_secret = excluded.api_key_secret, updated_at = excluded.updated_at`,
      )
      .run(project, u.baseUrl, u.apiKeySecret, now);
    return { ...u, updatedAt: now };
  }

  clearUpstream(project: string): boolean {
    return Number(this.store.db.prepare("DELETE FROM llm_upstreams WHERE project = ?").run(project).changes) > 0;
  }

  addUsage(project: string, d: LlmUsageDelta): void {
    this.store.db
      .prepare(
        `INSERT INTO llm_usage (project, room, requests, errors, prompt_tokens, completion_tokens, last_used_at) VALUES (?, ?, 1, ?, ?, ?, ?)
         ON CONFLICT(project, room) DO UPDATE SET requests = requests + 1, errors = errors + excluded.errors,
           prompt_tokens = prompt_tokens + excluded.prompt_tokens, completion_tokens = completion_tokens + excluded.completion_tokens,
           last_used_at = excluded.last_used_at`,
      )
      .run(project, d.room, d.ok ? 0 : 1, d.promptTokens, d.completionTokens, d.at);
  }

  usage(project: string, room?: string): LlmUsage[] {
    const rows = (room === undefined
      ? this.store.db.prepare("SELECT * FROM llm_usage WHERE project = ? ORDER BY room").all(project)
      : this.store.db.prepare("SELECT * FROM llm_usage WHERE project = ? AND room = ?").all(project, room)) as unknown as {
      room: string; requests: number; errors: number; prompt_tokens: number; completion_tokens: number; last_used_at: number;
    }[];
    return rows.map((r) => ({
      room: r.room, requests: r.requests, errors: r.errors, promptTokens: r.prompt_tokens,
      completionTokens: r.completion_tokens, lastUsedAt: r.last_used_at,
    }));
  }
}
