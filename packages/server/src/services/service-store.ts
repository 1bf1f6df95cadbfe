import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { RoomserviceError } from "../http/errors.ts";
import type { ExpressionBuilder, Kysely, Selectable, Transaction } from "kysely";
import { isUniqueViolation, type Database, type Store } from "../store/db.ts";

/** A stored service: the manifest as the user gave it (JSON), versioned on every edit. */
export interface ServiceRecord {
  id: string;
  project: string;
  /** null: a project service, started in every room; otherwise only in this room. */
  room: string | null;
  name: string;
  spec: Record<string, unknown>;
  version: number;
  createdAt: number;
  updatedAt: number;
}

const fromRow = (r: Selectable<Database["services"]>): ServiceRecord => ({
  id: r.id, project: r.project, room: r.room, name: r.name, spec: JSON.parse(r.spec) as Record<string, unknown>,
  version: r.version, createdAt: r.created_at, updatedAt: r.updated_at,
});

/** A service name already used in the same scope (409). */
export class ServiceConflict extends RoomserviceError {
  override name = "ServiceConflict";
  constructor(message: string) {
    super(409, "conflict", message);
  }
}

type Db = Kysely<Database>;

/** Rows of one scope: project services (room null) or one room's own. */
const inScope = (room: string | null) => (eb: ExpressionBuilder<Database, "services">) =>
  room === null ? eb("room", "is", null) : eb("room", "=", room);

/**
 * Service configuration. Each edit writes a new version; a session keeps the versions it
 * started with (its snapshot), so edits apply at the next session or on `services.restart`.
 * Names are unique per scope: checked in the transaction, and by a unique index for writers
 * racing on other connections or nodes.
 */
export class ServiceStore {
  private readonly store: Store;
  /** After every committed create, update and delete (the launcher prepares rooms ahead from it). */
  readonly changes = new EventEmitter<{ changed: [{ project: string; room: string | null }] }>();
  constructor(store: Store) {
    this.store = store;
  }

  private changed(r: ServiceRecord): ServiceRecord {
    this.changes.emit("changed", { project: r.project, room: r.room });
    return r;
  }

  async create(project: string, room: string | null, name: string, spec: Record<string, unknown>, now: number): Promise<ServiceRecord> {
    const id = randomUUID();
    const taken = () => new ServiceConflict(`a service named ${JSON.stringify(name)} already exists ${room === null ? "in the project" : `in room ${JSON.stringify(room)}`}; update it instead`);
    try {
      await this.store.db.transaction().execute(async (trx) => {
        if ((await findByName(trx, project, room, name)) !== undefined) throw taken();
        const json = JSON.stringify(spec);
        await trx.insertInto("services").values({ id, project, room, name, spec: json, version: 1, created_at: now, updated_at: now }).execute();
        await trx.insertInto("service_versions").values({ service_id: id, version: 1, spec: json, created_at: now }).execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw taken();
      throw err;
    }
    return this.changed((await this.get(id))!);
  }

  async update(id: string, name: string, spec: Record<string, unknown>, now: number): Promise<ServiceRecord> {
    const taken = () => new ServiceConflict(`another service is already named ${JSON.stringify(name)}`);
    try {
      await this.store.db.transaction().execute(async (trx) => {
        const cur = await getRow(trx, id);
        if (cur === undefined) throw new ServiceConflict(`service ${id} does not exist`);
        const other = await findByName(trx, cur.project, cur.room, name);
        if (other !== undefined && other.id !== id) throw taken();
        const version = cur.version + 1;
        const json = JSON.stringify(spec);
        // "version = version + 1 WHERE version = cur" would also fence concurrent edits; the
        // service_versions primary key does: two edits of one version cannot both commit.
        await trx.updateTable("services").set({ name, spec: json, version, updated_at: now }).where("id", "=", id).execute();
        await trx.insertInto("service_versions").values({ service_id: id, version, spec: json, created_at: now }).execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ServiceConflict(`service ${id} was changed concurrently or the name ${JSON.stringify(name)} is taken; retry`);
      throw err;
    }
    return this.changed((await this.get(id))!);
  }

  /**
   * The YAML text the service's version `version` was saved as (an editor keeps the user's
   * comments and layout), or null when none was saved. A later edit made another way (JSON,
   * the form) leaves an older `version` here: the caller then knows the text is stale.
   */
  async source(id: string): Promise<{ yaml: string; version: number } | null> {
    const r = await this.store.db.selectFrom("service_sources").select(["yaml", "version"]).where("service_id", "=", id).executeTakeFirst();
    return r === undefined ? null : { yaml: r.yaml, version: r.version };
  }

  /** Keeps `yaml` as the text of the service's version `version` (replacing any earlier text). */
  async setSource(id: string, version: number, yaml: string, now: number): Promise<void> {
    await this.store.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("service_sources").where("service_id", "=", id).execute();
      await trx.insertInto("service_sources").values({ service_id: id, version, yaml, updated_at: now }).execute();
    });
  }

  async delete(id: string): Promise<boolean> {
    const cur = await this.get(id);
    await this.store.db.deleteFrom("service_sources").where("service_id", "=", id).execute();
    const r = await this.store.db.deleteFrom("services").where("id", "=", id).executeTakeFirst();
    const deleted = Number(r.numDeletedRows) > 0;
    if (cur !== undefined && deleted) this.changed(cur);
    return deleted;
  }

  get(id: string): Promise<ServiceRecord | undefined> {
    return getRow(this.store.db, id);
  }

  findByName(project: string, room: string | null, name: string): Promise<ServiceRecord | undefined> {
    return findByName(this.store.db, project, room, name);
  }

  /** Project services (room = null) or one room's own services. */
  async list(project: string, room: string | null): Promise<ServiceRecord[]> {
    const rows = await this.store.db.selectFrom("services").selectAll().where("project", "=", project).where(inScope(room)).orderBy("name").execute();
    return rows.map(fromRow);
  }

  /** Every room's own services (not the project's). */
  async allRooms(project: string): Promise<ServiceRecord[]> {
    const rows = await this.store.db.selectFrom("services").selectAll().where("project", "=", project).where("room", "is not", null)
      .orderBy("room").orderBy("name").execute();
    return rows.map(fromRow);
  }

  /** Everything a session in `room` runs: project services plus the room's own. */
  async forRoom(project: string, room: string): Promise<ServiceRecord[]> {
    const rows = await this.store.db.selectFrom("services").selectAll().where("project", "=", project)
      .where((eb) => eb.or([eb("room", "is", null), eb("room", "=", room)])).orderBy("name").execute();
    return rows.map(fromRow);
  }

  /**
   * A service configured for `room` by id, or by name (a room service shadows a project
   * service of the same name): what `/rooms/{room}/services/{ref}/...` routes accept.
   */
  async findForRoom(project: string, room: string, ref: string): Promise<ServiceRecord | undefined> {
    const byId = await this.get(ref);
    if (byId !== undefined) return byId.project === project && (byId.room === null || byId.room === room) ? byId : undefined;
    const named = (await this.forRoom(project, room)).filter((s) => s.name === ref);
    return named.find((s) => s.room === room) ?? named[0];
  }
}

async function getRow(db: Db | Transaction<Database>, id: string): Promise<ServiceRecord | undefined> {
  const r = await db.selectFrom("services").selectAll().where("id", "=", id).executeTakeFirst();
  return r === undefined ? undefined : fromRow(r);
}

async function findByName(db: Db | Transaction<Database>, project: string, room: string | null, name: string): Promise<ServiceRecord | undefined> {
  const r = await db.selectFrom("services").selectAll().where("project", "=", project).where(inScope(room)).where("name", "=", name).executeTakeFirst();
  return r === undefined ? undefined : fromRow(r);
}
