import type { Logger } from "pino";
import type { Store } from "./db.ts";
import { endStoredSessions } from "./session-end.ts";

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
 * Writes come from the connection path and do not wait: they go through the store's history
 * writer (store/history-writer.ts: one FIFO, group-committed once per event-loop turn, no
 * fsync per write), in order with the participants and events the SessionEventStore writes;
 * reads flush it first, so a reader sees its own node's writes.
 */
export class SessionStore {
  private readonly store: Store;
  private readonly onError: (err: unknown) => void;

  constructor(store: Store, logger: Logger) {
    this.store = store;
    this.onError = (err) => logger.error({ err: (err as Error).message }, "writing session history failed");
  }

  recordStart(id: string, room: string, startedAt: number): void {
    this.store.history.push((trx) => trx.insertInto("sessions").values({ id, room, started_at: startedAt }).execute(), this.onError);
  }

  recordParticipants(id: string, participants: string[]): void {
    const json = JSON.stringify(participants);
    this.store.history.push((trx) => trx.updateTable("sessions").set({ participants: json }).where("id", "=", id).execute(), this.onError);
  }

  recordEnd(id: string, endedAt: number, reason: SessionEndReason, participants: string[]): void {
    const json = JSON.stringify(participants);
    this.store.history.push(
      // First ending wins (store/session-end.ts): a session another node already closed stays so.
      (trx) => trx.updateTable("sessions").set({ ended_at: endedAt, end_reason: reason, participants: json }).where("id", "=", id).where("ended_at", "is", null).execute(),
      this.onError,
    );
  }

  /** Resolves when every write queued so far is applied. */
  settled(): Promise<void> {
    return this.store.history.flush();
  }

  /**
   * Sessions left open by a crash are closed with reason "server_restart" at start-up, with
   * what a normal end records too (endStoredSessions: the `SessionEnded` event, participants
   * marked left at `endedAt`). One transaction: a second crash leaves either all of it or none.
   */
  async closeDangling(endedAt: number): Promise<number> {
    await this.settled();
    const open = await this.store.db.selectFrom("sessions").select("id").where("ended_at", "is", null).execute();
    return await endStoredSessions(this.store, open.map((r) => r.id), { at: endedAt, reason: "server_restart", detail: "the server stopped without closing it" });
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    await this.settled();
    const r = await this.store.db.selectFrom("sessions").selectAll().where("id", "=", id).executeTakeFirst();
    return r === undefined ? undefined : fromRow(r as Row);
  }

  async list(room?: string, limit = 100): Promise<SessionRecord[]> {
    await this.settled();
    let q = this.store.db.selectFrom("sessions").selectAll();
    if (room !== undefined) q = q.where("room", "=", room);
    const rows = await q.orderBy("started_at", "desc").limit(limit).execute();
    return rows.map((r) => fromRow(r as Row));
  }
}

/**
 * Per-room overrides (departure timeout for now). Read on the connection path without a
 * round trip: `load()` reads every row at start and writes go through to the cache. A node
 * that learns another node changed a setting calls `load()` again.
 */
export class RoomSettingsStore {
  private readonly store: Store;
  private cache = new Map<string, number>();

  constructor(store: Store) {
    this.store = store;
  }

  /** (Re)reads every room's settings into memory. */
  async load(): Promise<void> {
    const rows = await this.store.db.selectFrom("room_settings").select(["room", "departure_timeout_ms"]).execute();
    const next = new Map<string, number>();
    for (const r of rows) if (r.departure_timeout_ms !== null) next.set(r.room, r.departure_timeout_ms);
    this.cache = next;
  }

  departureTimeoutMs(room: string): number | undefined {
    return this.cache.get(room);
  }

  async setDepartureTimeoutMs(room: string, ms: number | null, now: number): Promise<void> {
    await this.store.db
      .insertInto("room_settings")
      .values({ room, departure_timeout_ms: ms, updated_at: now })
      .onConflict((oc) => oc.column("room").doUpdateSet((eb) => ({ departure_timeout_ms: eb.ref("excluded.departure_timeout_ms"), updated_at: eb.ref("excluded.updated_at") })))
      .execute();
    if (ms === null) this.cache.delete(room);
    else this.cache.set(room, ms);
  }
}
