import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Store } from "../store/db.ts";

/** Admin API keys: `rsk_<id>_<secret>`; only a SHA-256 of the secret is stored. */
export class ApiKeyStore {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  async create(project: string, name: string, now: number, description = ""): Promise<{ id: string; key: string }> {
    const id = randomUUID().replace(/-/g, "");
    const secret = randomBytes(24).toString("base64url");
    await this.store.db.insertInto("api_keys").values({ id, project, name, secret_hash: hash(secret), created_at: now, description }).execute();
    return { id, key: `rsk_${id}_${secret}` };
  }

  /** Returns the key's project and name when `key` is valid. */
  async verify(key: string): Promise<{ id: string; project: string; name: string } | undefined> {
    const m = /^rsk_([0-9a-f]{32})_([A-Za-z0-9_-]+)$/.exec(key);
    if (m === null) return undefined;
    const row = await this.store.db.selectFrom("api_keys").select(["id", "project", "name", "secret_hash"]).where("id", "=", m[1]!).executeTakeFirst();
    if (row === undefined) return undefined;
    const a = Buffer.from(row.secret_hash, "hex");
    const b = Buffer.from(hash(m[2]!), "hex");
    return a.length === b.length && timingSafeEqual(a, b) ? { id: row.id, project: row.project, name: row.name } : undefined;
  }

  async list(project: string): Promise<{ id: string; name: string; description: string; createdAt: number }[]> {
    const rows = await this.store.db.selectFrom("api_keys").select(["id", "name", "description", "created_at"]).where("project", "=", project)
      .orderBy("created_at").orderBy("id").execute();
    return rows.map((r) => ({ id: r.id, name: r.name, description: r.description, createdAt: r.created_at }));
  }

  /** True while the key exists (browser sessions opened with it die with it). */
  async exists(id: string): Promise<boolean> {
    return (await this.store.db.selectFrom("api_keys").select("id").where("id", "=", id).executeTakeFirst()) !== undefined;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.store.db.deleteFrom("api_keys").where("id", "=", id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

function hash(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
