import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type { Store } from "../store/db.ts";

/** Admin API keys: `rsk_<id>_<secret>`; only a SHA-256 of the secret is stored. */
export class ApiKeyStore {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  create(project: string, name: string, now: number, description = ""): { id: string; key: string } {
    const id = randomUUID().replace(/-/g, "");
    const secret = randomBytes(24).toString("base64url");
    this.store.db
      .prepare("INSERT INTO api_keys (id, project, name, secret_hash, created_at, description) VALUES (?, ?, ?, ?, ?, ?)")
      .run(id, project, name, hash(secret), now, description);
    return { id, key: `rsk_${id}_${secret}` };
  }

  /** Returns the key's project and name when `key` is valid. */
  verify(key: string): { id: string; project: string; name: string } | undefined {
    const m = /^rsk_([0-9a-f]{32})_([A-Za-z0-9_-]+)$/.exec(key);
    if (m === null) return undefined;
    const row = this.store.db.prepare("SELECT * FROM api_keys WHERE id = ?").get(m[1]!) as
      | { id: string; project: string; name: string; secret_hash: string }
      | undefined;
    if (row === undefined) return undefined;
    const a = Buffer.from(row.secret_hash, "hex");
    const b = Buffer.from(hash(m[2]!), "hex");
    return a.length === b.length && timingSafeEqual(a, b) ? { id: row.id, project: row.project, name: row.name } : undefined;
  }

  list(project: string): { id: string; name: string; description: string; createdAt: number }[] {
    return (this.store.db.prepare("SELECT id, name, description, created_at FROM api_keys WHERE project = ? ORDER BY created_at").all(project) as {
      id: string; name: string; description: string; created_at: number;
    }[]).map((r) => ({ id: r.id, name: r.name, description: r.description, createdAt: r.created_at }));
  }

  /** True while the key exists (browser sessions opened with it die with it). */
  exists(id: string): boolean {
    return this.store.db.prepare("SELECT 1 FROM api_keys WHERE id = ?").get(id) !== undefined;
  }

  delete(id: string): boolean {
    return Number(this.store.db.prepare("DELETE FROM api_keys WHERE id = ?").run(id).changes) > 0;
  }
}

function hash(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
