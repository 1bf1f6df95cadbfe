import type { StatementSync } from "node:sqlite";
import type { Store } from "./db.ts";

/**
 * Why a session ended, as the room produces it and the store keeps it (one type for both):
 * - `departure_timeout`: the last participant that keeps the room alive left and the
 *   departure timeout passed;
 * - `server_shutdown`: the server was stopped while the session was open;
 * - `server_restart`: the server died with the session open; closed at the next start.
 * - `terminated`: ended through the API (`POST .../sessions/{id}/terminate`).
 */
/** `lease_lost`: in a cluster, this node lost the room's lease (another node owns it now; docs/scaling.md). */
export type SessionEndReason = "departure_timeout" | "terminated" | "server_shutdown" | "server_restart" | "lease_lost";

export interface SessionRecord {
  id: string;
  room: string;
  startedAt: number;
  endedAt: number | null;
  endReason: SessionEndReason | null;
  participants: string[];
}

interface Row {
  id: string;
  room: string;
  started_at: number;
  ended_at: number | null;
  end_reason: SessionEndReason | null;
  participants: string;
}

const fromRow = (r: Row): SessionRecord => ({
  id: r.id,
  room: r.room,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  endReason: r.end_reason,
  participants: JSON.parse(r.participants) as string[],
});

/**
 * Session history: a row is written when a session starts and completed when it ends.
 * Statements are prepared once: connecting participants write here on the hot path.
 */
export class SessionStore {
  private readonly store: Store;
  private readonly insertStart: StatementSync;
  private readonly updateParticipants: StatementSync;
  private readonly updateEnd: StatementSync;

  constructor(store: Store) {
    this.store = store;
    this.insertStart = store.db.prepare("INSERT INTO sessions (id, room, started_at) VALUES (?, ?, ?)");
    this.updateParticipants = store.db.prepare("UPDATE sessions SET participants = ? WHERE id = ?");
    this.updateEnd = store.db.prepare("UPDATE sessions SET ended_at = ?, end_reason = ?, participants = ? WHERE id = ?");
  }

  recordStart(id: string, room: string, startedAt: number): void {
    this.insertStart.run(id, room, startedAt);
  }

  recordParticipants(id: string, participants: string[]): void {
    this.updateParticipants.run(JSON.stringify(participants), id);
  }

  recordEnd(id: string, endedAt: number, reason: SessionEndReason, participants: string[]): void {
    this.updateEnd.run(endedAt, reason, JSON.stringify(participants), id);
  }

  /** Sessions left open by a crash are closed with reason "server_restart" at start-up. */
  closeDangling(endedAt: number): number {
    const reason: SessionEndReason = "server_restart";
    const r = this.store.db
      .prepare("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL")
      .run(endedAt, reason);
    return Number(r.changes);
  }

  get(id: string): SessionRecord | undefined {
    const r = this.store.db.prepare("SELECT * FROM sessions WHERE id = ?").get(id) as Row | undefined;
    return r === undefined ? undefined : fromRow(r);
  }

  list(room?: string, limit = 100): SessionRecord[] {
    const rows = (room === undefined
      ? this.store.db.prepare("SELECT * FROM sessions ORDER BY started_at DESC LIMIT ?").all(limit)
      : this.store.db.prepare("SELECT * FROM sessions WHERE room = ? ORDER BY started_at DESC LIMIT ?").all(room, limit)) as unknown as Row[];
    return rows.map(fromRow);
  }
}

/** Per-room overrides (departure timeout for now). */
export class RoomSettingsStore {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }

  departureTimeoutMs(room: string): number | undefined {
    const r = this.store.db.prepare("SELECT departure_timeout_ms FROM room_settings WHERE room = ?").get(room) as
      | { departure_timeout_ms: number | null }
      | undefined;
    return r?.departure_timeout_ms ?? undefined;
  }

  setDepartureTimeoutMs(room: string, ms: number | null, now: number): void {
    this.store.db
      .prepare(
        "INSERT INTO room_settings (room, departure_timeout_ms, updated_at) VALUES (?, ?, ?) ON CONFLICT(room) DO UPDATE SET departure_timeout_ms = excluded.departure_timeout_ms, updated_at = excluded.updated_at",
      )
      .run(room, ms, now);
  }
}
