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

/** A refused secret operation; `status` is the HTTP status the REST API answers with. */
export class SecretError extends RoomserviceError {
  override name = "SecretError";
  constructor(message: string, status: 400 | 404 | 409 = 400) {
    super(status, status === 409 ? "conflict" : status === 404 ? "not_found" : "bad_request", message);
  }
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const TYPE = /^[A-Za-z0-9_.\/-]{1,64}$/;

/**
 * The rules every secret write follows (create, set, update/rename): the name becomes a file
 * name under /run/secrets and an env var name, so it is 1-128 of [A-Za-z0-9_.-] and not "."
 * or ".."; the type is 1-64 of [A-Za-z0-9_./-]. Throws SecretError (400) naming the field.
 */
export function validateSecretFields(f: { name?: unknown; type?: unknown }): void {
  if (f.name !== undefined && (typeof f.name !== "string" || !NAME.test(f.name) || f.name === "." || f.name === "..")) {
    throw new SecretError(`name: ${JSON.stringify(f.name)} is invalid: use 1-128 letters, digits, "_", "." or "-" (it becomes a file name under /run/secrets)`);
  }
  if (f.type !== undefined && (typeof f.type !== "string" || !TYPE.test(f.type))) {
    throw new SecretError(`type: ${JSON.stringify(f.type)} is invalid: use 1-64 letters, digits, "_", ".", "/" or "-"`);
  }
}

/** SQLite's UNIQUE/constraint failure (node:sqlite reports the extended code in errcode). */
function isConstraintError(err: unknown): boolean {
  const e = err as { code?: string; errcode?: number } | null;
  return e?.code === "ERR_SQLITE_ERROR" && typeof e.errcode === "number" && (e.errcode & 0xff) === 19;
}

function duplicate(name: string, room: string | null): SecretError {
  return new SecretError(`a secret named ${JSON.stringify(name)} already exists ${room === null ? "in the project" : `in room ${JSON.stringify(room)}`}; update or delete it instead`, 409);
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

  /** Runs `fn` in one write transaction (other processes on the store wait); maps constraint errors. */
  private tx<T>(fn: () => T, onConflict: () => SecretError): T {
    const db = this.store.db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const r = fn();
      db.exec("COMMIT");
      return r;
    } catch (err) {
      db.exec("ROLLBACK");
      if (isConstraintError(err)) throw onConflict();
      throw err;
    }
  }

  private insert(project: string, room: string | null, name: string, type: string, value: Buffer, now: number): string {
    const id = randomUUID();
    this.store.db
      .prepare("INSERT INTO secrets (id, project, room, name, type, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(id, project, room, name, type, this.seal(value), now, now);
    return id;
  }

  /** Creates a secret; SecretError 409 if the name is taken in that scope (REST POST). */
  create(project: string, room: string | null, name: string, type: string, value: Buffer, now: number): SecretInfo {
    validateSecretFields({ name, type });
    const id = this.tx(() => {
      if (this.findByName(project, room, name) !== undefined) throw duplicate(name, room);
      return this.insert(project, room, name, type, value, now);
    }, () => duplicate(name, room));
    return this.getInfo(id)!;
  }

  /** Creates or replaces the secret of that name (CLI `secret set`). */
  set(project: string, room: string | null, name: string, type: string, value: Buffer, now: number): SecretInfo {
    validateSecretFields({ name, type });
    const id = this.tx(() => {
      const existing = this.findByName(project, room, name);
      if (existing === undefined) return this.insert(project, room, name, type, value, now);
      this.store.db.prepare("UPDATE secrets SET type = ?, ciphertext = ?, updated_at = ? WHERE id = ?").run(type, this.seal(value), now, existing.id);
      return existing.id;
    }, () => duplicate(name, room));
    return this.getInfo(id)!;
  }

  /**
   * Updates (and may rename) a secret under the same rules as create: SecretError 400 for an
   * invalid field, 409 when the new name is taken in its scope, 404 when `id` is unknown.
   */
  update(id: string, fields: { name?: string; type?: string; value?: Buffer }, now: number): SecretInfo {
    validateSecretFields(fields);
    const cur0 = this.row(id);
    const name = fields.name ?? cur0?.name ?? "";
    this.tx(() => {
      const cur = this.row(id);
      if (cur === undefined) throw new SecretError(`secret ${JSON.stringify(id)} not found`, 404);
      const other = this.findByName(cur.project, cur.room, name);
      if (other !== undefined && other.id !== id) throw duplicate(name, cur.room);
      this.store.db
        .prepare("UPDATE secrets SET name = ?, type = ?, ciphertext = ?, updated_at = ? WHERE id = ?")
        .run(name, fields.type ?? cur.type, fields.value === undefined ? cur.ciphertext : this.seal(fields.value), now, id);
    }, () => duplicate(name, cur0?.room ?? null));
    return this.getInfo(id)!;
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
