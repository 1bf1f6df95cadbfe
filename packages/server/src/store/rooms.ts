import { sql } from "kysely";
import type { Store } from "./db.ts";

export interface RoomInfo {
  name: string;
  metadata: Record<string, unknown>;
  annotations: Record<string, unknown>;
  /** ms since epoch: when created, or first seen (first session, service or setting). */
  createdAt: number;
}

/**
 * Rooms by name. A room needs no creation to be used (its first connection opens it), so a
 * room is "known" when it was created through the API (SDK `createRoom`) or has a session, a
 * room service, a room secret or a setting; only created rooms carry metadata.
 */
export class RoomStore {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  /** Every known room's name and first-seen time (portable SQL: runs on SQLite and PostgreSQL). */
  private static readonly KNOWN = sql`
    SELECT name, MIN(created_at) AS created_at FROM (
      SELECT name, created_at FROM rooms
      UNION ALL SELECT room, started_at FROM sessions
      UNION ALL SELECT room, created_at FROM services WHERE room IS NOT NULL
      UNION ALL SELECT room, created_at FROM secrets WHERE room IS NOT NULL
      UNION ALL SELECT room, updated_at FROM room_settings
    ) AS seen GROUP BY name`;

  /** Known rooms ordered by name, paginated. */
  async list(limit: number, offset: number): Promise<RoomInfo[]> {
    await this.store.settled(); // a room whose session just started is known
    const r = await sql<KnownRow>`SELECT k.name, k.created_at, r.metadata, r.annotations FROM (${RoomStore.KNOWN}) AS k LEFT JOIN rooms r ON r.name = k.name ORDER BY k.name LIMIT ${limit} OFFSET ${offset}`
      .execute(this.store.db);
    return r.rows.map(toInfo);
  }

  async get(name: string): Promise<RoomInfo | undefined> {
    await this.store.settled();
    const r = await sql<KnownRow>`SELECT k.name, k.created_at, r.metadata, r.annotations FROM (${RoomStore.KNOWN}) AS k LEFT JOIN rooms r ON r.name = k.name WHERE k.name = ${name}`
      .execute(this.store.db);
    return r.rows[0] === undefined ? undefined : toInfo(r.rows[0]);
  }

  /** Records a room (with its metadata); false when it was already recorded. */
  async create(name: string, metadata: Record<string, unknown>, annotations: Record<string, unknown>, now: number): Promise<boolean> {
    const r = await this.store.db
      .insertInto("rooms")
      .values({ name, metadata: JSON.stringify(metadata), annotations: JSON.stringify(annotations), created_at: now })
      .onConflict((oc) => oc.column("name").doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /**
   * Sets a room's metadata and/or annotations (a field left undefined keeps its value),
   * recording the room if only its sessions or configuration made it known.
   */
  async update(name: string, fields: { metadata?: Record<string, unknown>; annotations?: Record<string, unknown> }, now: number): Promise<void> {
    const set: { metadata?: string; annotations?: string } = {};
    if (fields.metadata !== undefined) set.metadata = JSON.stringify(fields.metadata);
    if (fields.annotations !== undefined) set.annotations = JSON.stringify(fields.annotations);
    const q = this.store.db.insertInto("rooms").values({ name, metadata: set.metadata ?? "{}", annotations: set.annotations ?? "{}", created_at: now });
    await (Object.keys(set).length === 0 ? q.onConflict((oc) => oc.column("name").doNothing()) : q.onConflict((oc) => oc.column("name").doUpdateSet(set))).execute();
  }
}

interface KnownRow { name: string; created_at: number; metadata: string | null; annotations: string | null }

const toInfo = (r: KnownRow): RoomInfo => ({
  name: r.name, createdAt: Number(r.created_at), metadata: JSON.parse(r.metadata ?? "{}"), annotations: JSON.parse(r.annotations ?? "{}"),
});
