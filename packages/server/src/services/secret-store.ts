import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import { RoomserviceError } from "../http/errors.ts";
import type { Store } from "../store/db.ts";

export interface SecretInfo {
  id: string;
  project: string;
  room: string | null;
  name: string;
  type: string;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  id: string;
  project: string;
  room: string | null;
  name: string;
  type: string;
  ciphertext: Uint8Array;
  created_at: number;
  updated_at: number;
}

const info = (r: Row): SecretInfo => ({ id: r.id, project: r.project, room: r.room, name: r.name, type: r.type, createdAt: r.created_at, updatedAt: r.updated_at });

/** A secret that cannot be stored as given (400). */
export class SecretError extends RoomserviceError {
  override name = "SecretError";
  constructor(message: string) {
    super(400, "bad_request", message);
  }
}

/**
 * Secrets, encrypted at rest with AES-256-GCM under a key derived from the project secret.
 * Values are write-only through every API: only the service launcher reads them back.
 */
export class SecretStore {
  private readonly store: Store;
  private readonly key: Buffer;

  constructor(store: Store, projectSecret: string) {
    this.store = store;
    this.key = Buffer.from(hkdfSync("sha256", projectSecret, "roomservice", "secret-store-v1", 32));
  }

  private seal(value: Buffer): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([c.update(value), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  }

  private open(sealed: Uint8Array, name: string): Buffer {
    const b = Buffer.from(sealed);
    try {
      const d = createDecipheriv("aes-256-gcm", this.key, b.subarray(0, 12));
      d.setAuthTag(b.subarray(12, 28));
      return Buffer.concat([d.update(b.subarray(28)), d.final()]);
    } catch {
      throw new SecretError(`secret ${JSON.stringify(name)} cannot be decrypted: the project secret changed since it was stored; set it again`);
    }
  }

  set(project: string, room: string | null, name: string, type: string, value: Buffer, now: number): SecretInfo {
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(name)) {
      throw new SecretError(`secret name ${JSON.stringify(name)} is invalid: use 1-128 letters, digits, "_", "." or "-" (it becomes a file name under /run/secrets)`);
    }
    const existing = this.findByName(project, room, name);
    const sealed = this.seal(value);
    if (existing !== undefined) {
      this.store.db.prepare("UPDATE secrets SET type = ?, ciphertext = ?, updated_at = ? WHERE id = ?").run(type, sealed, now, existing.id);
      return this.getInfo(existing.id)!;
    }
    const id = randomUUID();
    this.store.db
      .prepare("INSERT INTO secrets (id, project, room, name, type, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(id, project, room, name, type, sealed, now, now);
    return this.getInfo(id)!;
  }

  update(id: string, fields: { name?: string; type?: string; value?: Buffer }, now: number): SecretInfo | undefined {
    const cur = this.row(id);
    if (cur === undefined) return undefined;
    this.store.db
      .prepare("UPDATE secrets SET name = ?, type = ?, ciphertext = ?, updated_at = ? WHERE id = ?")
      .run(fields.name ?? cur.name, fields.type ?? cur.type, fields.value === undefined ? cur.ciphertext : this.seal(fields.value), now, id);
    return this.getInfo(id);
  }

  private row(id: string): Row | undefined {
    return this.store.db.prepare("SELECT * FROM secrets WHERE id = ?").get(id) as Row | undefined;
  }

  getInfo(id: string): SecretInfo | undefined {
    const r = this.row(id);
    return r === undefined ? undefined : info(r);
  }

  findByName(project: string, room: string | null, name: string): SecretInfo | undefined {
    const r = this.store.db
      .prepare("SELECT * FROM secrets WHERE project = ? AND ifnull(room, '') = ifnull(?, '') AND name = ?")
      .get(project, room, name) as Row | undefined;
    return r === undefined ? undefined : info(r);
  }

  list(project: string, room: string | null): SecretInfo[] {
    return (this.store.db
      .prepare("SELECT * FROM secrets WHERE project = ? AND ifnull(room, '') = ifnull(?, '') ORDER BY name")
      .all(project, room) as unknown as Row[]).map(info);
  }

  delete(id: string): boolean {
    return Number(this.store.db.prepare("DELETE FROM secrets WHERE id = ?").run(id).changes) > 0;
  }

  /**
   * The value of a secret referenced from a manifest by id or name; a room secret shadows a
   * project secret of the same name. Only the service launcher calls this.
   */
  resolveValue(project: string, room: string, ref: string): Buffer | undefined {
    const r = (this.store.db
      .prepare("SELECT * FROM secrets WHERE project = ? AND (id = ? OR name = ?) AND (room IS NULL OR room = ?) ORDER BY room IS NULL LIMIT 1")
      .get(project, ref, ref, room)) as Row | undefined;
    return r === undefined ? undefined : this.open(r.ciphertext, r.name);
  }
}
