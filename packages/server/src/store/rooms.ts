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

  private static readonly KNOWN = `
    SELECT name, MIN(created_at) AS created_at FROM (
      SELECT name, created_at FROM rooms
      UNION ALL SELECT room, started_at FROM sessions
      UNION ALL SELECT room, created_at FROM services WHERE room IS NOT NULL
      UNION ALL SELECT room, created_at FROM secrets WHERE room IS NOT NULL
      UNION ALL SELECT room, updated_at FROM room_settings
    ) GROUP BY name`;

  /** Known rooms ordered by name, paginated. */
  list(limit: number, offset: number): RoomInfo[] {
    const rows = this.store.db
      .prepare(`SELECT k.name, k.created_at, r.metadata, r.annotations FROM (${RoomStore.KNOWN}) k LEFT JOIN rooms r ON r.name = k.name ORDER BY k.name LIMIT ? OFFSET ?`)
      .all(limit, offset) as { name: string; created_at: number; metadata: string | null; annotations: string | null }[];
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, metadata: JSON.parse(r.metadata ?? "{}"), annotations: JSON.parse(r.annotations ?? "{}") }));
  }

  get(name: string): RoomInfo | undefined {
    const r = this.store.db
      .prepare(`SELECT k.name, k.created_at, r.metadata, r.annotations FROM (${RoomStore.KNOWN}) k LEFT JOIN rooms r ON r.name = k.name WHERE k.name = ?`)
      .get(name) as { name: string; created_at: number; metadata: string | null; annotations: string | null } | undefined;
    return r === undefined ? undefined : { name: r.name, createdAt: r.created_at, metadata: JSON.parse(r.metadata ?? "{}"), annotations: JSON.parse(r.annotations ?? "{}") };
  }

  /** Records a room (with its metadata); false when it was already recorded. */
  create(name: string, metadata: Record<string, unknown>, annotations: Record<string, unknown>, now: number): boolean {
    const r = this.store.db
      .prepare("INSERT OR IGNORE INTO rooms (name, metadata, annotations, created_at) VALUES (?, ?, ?, ?)")
      .run(name, JSON.stringify(metadata), JSON.stringify(annotations), now);
    return Number(r.changes) > 0;
  }
}
