import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { RoomserviceError } from "../http/errors.ts";
import type { Store } from "../store/db.ts";

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

interface Row {
  id: string;
  project: string;
  room: string | null;
  name: string;
  spec: string;
  version: number;
  created_at: number;
  updated_at: number;
}

const fromRow = (r: Row): ServiceRecord => ({
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

/**
 * Service configuration. Each edit writes a new version; a session keeps the versions it
 * started with (its snapshot), so edits apply at the next session or on `services.restart`.
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

  create(project: string, room: string | null, name: string, spec: Record<string, unknown>, now: number): ServiceRecord {
    const id = randomUUID();
    const db = this.store.db;
    db.exec("BEGIN IMMEDIATE");
    try {
      if (this.findByName(project, room, name) !== undefined) {
        throw new ServiceConflict(`a service named ${JSON.stringify(name)} already exists ${room === null ? "in the project" : `in room ${JSON.stringify(room)}`}; update it instead`);
      }
      const json = JSON.stringify(spec);
      db.prepare("INSERT INTO services (id, project, room, name, spec, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)").run(id, project, room, name, json, now, now);
      db.prepare("INSERT INTO service_versions (service_id, version, spec, created_at) VALUES (?, 1, ?, ?)").run(id, json, now);
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
    return this.changed(this.get(id)!);
  }

  update(id: string, name: string, spec: Record<string, unknown>, now: number): ServiceRecord {
    const db = this.store.db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const cur = this.get(id);
      if (cur === undefined) throw new ServiceConflict(`service ${id} does not exist`);
      const other = this.findByName(cur.project, cur.room, name);
      if (other !== undefined && other.id !== id) throw new ServiceConflict(`another service is already named ${JSON.stringify(name)}`);
      const version = cur.version + 1;
      const json = JSON.stringify(spec);
      db.prepare("UPDATE services SET name = ?, spec = ?, version = ?, updated_at = ? WHERE id = ?").run(name, json, version, now, id);
      db.prepare("INSERT INTO service_versions (service_id, version, spec, created_at) VALUES (?, ?, ?, ?)").run(id, version, json, now);
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
    return this.changed(this.get(id)!);
  }

  delete(id: string): boolean {
    const cur = this.get(id);
    const r = this.store.db.prepare("DELETE FROM services WHERE id = ?").run(id);
    if (cur !== undefined && Number(r.changes) > 0) this.changed(cur);
    return Number(r.changes) > 0;
  }

  get(id: string): ServiceRecord | undefined {
    const r = this.store.db.prepare("SELECT * FROM services WHERE id = ?").get(id) as Row | undefined;
    return r === undefined ? undefined : fromRow(r);
  }

  findByName(project: string, room: string | null, name: string): ServiceRecord | undefined {
    const r = this.store.db
      .prepare("SELECT * FROM services WHERE project = ? AND ifnull(room, '') = ifnull(?, '') AND name = ?")
      .get(project, room, name) as Row | undefined;
    return r === undefined ? undefined : fromRow(r);
  }

  /** Project services (room = null) or one room's own services. */
  list(project: string, room: string | null): ServiceRecord[] {
    const rows = this.store.db
      .prepare("SELECT * FROM services WHERE project = ? AND ifnull(room, '') = ifnull(?, '') ORDER BY name")
      .all(project, room) as unknown as Row[];
    return rows.map(fromRow);
  }

  /** Every room's own services (not the project's). */
  allRooms(project: string): ServiceRecord[] {
    const rows = this.store.db
      .prepare("SELECT * FROM services WHERE project = ? AND room IS NOT NULL ORDER BY room, name")
      .all(project) as unknown as Row[];
    return rows.map(fromRow);
  }

  /** Everything a session in `room` runs: project services plus the room's own. */
  forRoom(project: string, room: string): ServiceRecord[] {
    const rows = this.store.db
      .prepare("SELECT * FROM services WHERE project = ? AND (room IS NULL OR room = ?) ORDER BY name")
      .all(project, room) as unknown as Row[];
    return rows.map(fromRow);
  }

  /**
   * A service configured for `room` by id, or by name (a room service shadows a project
   * service of the same name): what `/rooms/{room}/services/{ref}/...` routes accept.
   */
  findForRoom(project: string, room: string, ref: string): ServiceRecord | undefined {
    const byId = this.get(ref);
    if (byId !== undefined) return byId.project === project && (byId.room === null || byId.room === room) ? byId : undefined;
    const named = this.forRoom(project, room).filter((s) => s.name === ref);
    return named.find((s) => s.room === room) ?? named[0];
  }

}
