import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import { RoomserviceError } from "../http/errors.ts";
import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import { isUniqueViolation, type Database, type Store } from "../store/db.ts";

export interface SecretInfo {
  id: string;
  project: string;
  room: string | null;
  name: string;
  type: string;
  createdAt: number;
  updatedAt: number;
}

type Row = Selectable<Database["secrets"]>;
type Db = Kysely<Database> | Transaction<Database>;

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

  /** Runs `fn` in one write transaction; maps a unique violation (a racing writer) to `onConflict`. */
  private async tx<T>(fn: (trx: Transaction<Database>) => Promise<T>, onConflict: () => SecretError): Promise<T> {
    try {
      return await this.store.db.transaction().execute(fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw onConflict();
      throw err;
    }
  }

  private async insert(db: Db, project: string, room: string | null, name: string, type: string, value: Buffer, now: number): Promise<string> {
    const id = randomUUID();
    await db.insertInto("secrets").values({ id, project, room, name, type, ciphertext: this.seal(value), created_at: now, updated_at: now }).execute();
    return id;
  }

  /** Creates a secret; SecretError 409 if the name is taken in that scope (REST POST). */
  async create(project: string, room: string | null, name: string, type: string, value: Buffer, now: number): Promise<SecretInfo> {
    validateSecretFields({ name, type });
    const id = await this.tx(async (trx) => {
      if ((await findByName(trx, project, room, name)) !== undefined) throw duplicate(name, room);
      return this.insert(trx, project, room, name, type, value, now);
    }, () => duplicate(name, room));
    return (await this.getInfo(id))!;
  }

  /** Creates or replaces the secret of that name (CLI `secret set`). */
  async set(project: string, room: string | null, name: string, type: string, value: Buffer, now: number): Promise<SecretInfo> {
    validateSecretFields({ name, type });
    const id = await this.tx(async (trx) => {
      const existing = await findByName(trx, project, room, name);
      if (existing === undefined) return this.insert(trx, project, room, name, type, value, now);
      await trx.updateTable("secrets").set({ type, ciphertext: this.seal(value), updated_at: now }).where("id", "=", existing.id).execute();
      return existing.id;
    }, () => duplicate(name, room));
    return (await this.getInfo(id))!;
  }

  /**
   * Updates (and may rename) a secret under the same rules as create: SecretError 400 for an
   * invalid field, 409 when the new name is taken in its scope, 404 when `id` is unknown.
   */
  async update(id: string, fields: { name?: string; type?: string; value?: Buffer }, now: number): Promise<SecretInfo> {
    validateSecretFields(fields);
    const cur0 = await row(this.store.db, id);
    const name = fields.name ?? cur0?.name ?? "";
    await this.tx(async (trx) => {
      const cur = await row(trx, id);
      if (cur === undefined) throw new SecretError(`secret ${JSON.stringify(id)} not found`, 404);
      const other = await findByName(trx, cur.project, cur.room, name);
      if (other !== undefined && other.id !== id) throw duplicate(name, cur.room);
      await trx.updateTable("secrets")
        .set({ name, type: fields.type ?? cur.type, ciphertext: fields.value === undefined ? cur.ciphertext : this.seal(fields.value), updated_at: now })
        .where("id", "=", id).execute();
    }, () => duplicate(name, cur0?.room ?? null));
    return (await this.getInfo(id))!;
  }

  async getInfo(id: string): Promise<SecretInfo | undefined> {
    const r = await row(this.store.db, id);
    return r === undefined ? undefined : info(r);
  }

  findByName(project: string, room: string | null, name: string): Promise<SecretInfo | undefined> {
    return findByName(this.store.db, project, room, name);
  }

  async list(project: string, room: string | null): Promise<SecretInfo[]> {
    const rows = await this.store.db.selectFrom("secrets").selectAll().where("project", "=", project)
      .where((eb) => (room === null ? eb("room", "is", null) : eb("room", "=", room))).orderBy("name").execute();
    return rows.map(info);
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.store.db.deleteFrom("secrets").where("id", "=", id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * The value of a secret referenced from a manifest by id or name; a room secret shadows a
   * project secret of the same name. Only the service launcher calls this.
   */
  async resolveValue(project: string, room: string, ref: string): Promise<Buffer | undefined> {
    const r = await this.store.db.selectFrom("secrets").selectAll().where("project", "=", project)
      .where((eb) => eb.and([eb.or([eb("id", "=", ref), eb("name", "=", ref)]), eb.or([eb("room", "is", null), eb("room", "=", room)])]))
      .orderBy(sql`room IS NULL`).limit(1).executeTakeFirst();
    return r === undefined ? undefined : this.open(r.ciphertext, r.name);
  }
}

async function row(db: Db, id: string): Promise<Row | undefined> {
  return db.selectFrom("secrets").selectAll().where("id", "=", id).executeTakeFirst();
}

async function findByName(db: Db, project: string, room: string | null, name: string): Promise<SecretInfo | undefined> {
  const r = await db.selectFrom("secrets").selectAll().where("project", "=", project)
    .where((eb) => (room === null ? eb("room", "is", null) : eb("room", "=", room))).where("name", "=", name).executeTakeFirst();
  return r === undefined ? undefined : info(r);
}
