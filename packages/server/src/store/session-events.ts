import type { Transaction } from "kysely";
import type { Logger } from "pino";
import type { ActivityEvent, ParticipantRef, StatsSample } from "@roomservice/protocol";
import { iso } from "@roomservice/protocol";
import type { Database, Store } from "./db.ts";
import { insertSessionEnded, SESSION_ENDED_REASON } from "./session-end.ts";

export interface ParticipantRecord {
  id: string;
  name: string;
  role: string;
  joined_at: string;
  left_at: string | null;
}

type Write =
  | { kind: "event"; e: ActivityEvent }
  | { kind: "joined"; sessionId: string; p: ParticipantRef; at: number }
  | { kind: "left"; sessionId: string; participantId: string; at: number }
  | { kind: "closeAll"; sessionId: string; at: number }
  | { kind: "stats"; s: StatsSample };

/**
 * What a session leaves behind for replay: its timeline (session, participant and service
 * events), who took part, and resource samples. Writes go through the store's history writer
 * (store/history-writer.ts): one FIFO shared with the session rows, committed once per
 * event-loop turn with no fsync of their own (a room start emits events and stats in many
 * separate turns, and one fsync per turn held the server for ~1.4 s of a loaded cold start —
 * docs/benchmarks.md, issue #10). A process kill loses nothing committed, a power loss at most
 * the last second; every read flushes first, so reads see all writes made so far.
 */
export class SessionEventStore {
  private readonly store: Store;
  private readonly onError: (err: unknown) => void;

  constructor(store: Store, logger: Logger) {
    this.store = store;
    this.onError = (err) => logger.error({ err: (err as Error).message }, "writing session events failed");
  }

  addEvent(e: ActivityEvent): void {
    this.queue({ kind: "event", e });
  }

  participantJoined(sessionId: string, p: ParticipantRef, at: number): void {
    this.queue({ kind: "joined", sessionId, p, at });
  }

  participantLeft(sessionId: string, participantId: string, at: number): void {
    this.queue({ kind: "left", sessionId, participantId, at });
  }

  /** At session end: everyone still connected left then. */
  closeParticipants(sessionId: string, at: number): void {
    this.queue({ kind: "closeAll", sessionId, at });
  }

  addStats(s: StatsSample): void {
    this.queue({ kind: "stats", s });
  }

  private queue(w: Write): void {
    this.store.history.push((trx) => writeOne(trx, w), this.onError);
  }

  /** Writes everything queued; resolves when it and every earlier write are committed. */
  flush(): Promise<void> {
    return this.store.history.flush();
  }

  /** A session's timeline in order. */
  async events(sessionId: string, room: string): Promise<ActivityEvent[]> {
    await this.flush();
    const rows = await this.store.db.selectFrom("session_events").selectAll().where("session_id", "=", sessionId).orderBy("seq").execute();
    return rows.map((r) => {
      const e: ActivityEvent = {
        seq: r.seq, session_id: r.session_id, room, at: iso(r.at), kind: r.kind as ActivityEvent["kind"],
        type: r.type as ActivityEvent["type"], reason: r.reason, message: r.message,
      };
      if (r.service_id !== null) e.service_id = r.service_id;
      if (r.service_name !== null) e.service_name = r.service_name;
      if (r.participant !== null) e.participant = JSON.parse(r.participant) as ParticipantRef;
      return e;
    });
  }

  async participants(sessionId: string): Promise<ParticipantRecord[]> {
    await this.flush();
    const rows = await this.store.db
      .selectFrom("session_participants")
      .select(["participant_id", "name", "role", "joined_at", "left_at"])
      .where("session_id", "=", sessionId)
      .orderBy("joined_at").orderBy("rowid")
      .execute();
    return rows.map((r) => ({ id: r.participant_id, name: r.name, role: r.role, joined_at: iso(r.joined_at), left_at: r.left_at === null ? null : iso(r.left_at) }));
  }

  /** Services that took part in a session (every launched service has at least one event). */
  async services(sessionId: string): Promise<{ id: string; name: string }[]> {
    const rows = await this.store.db
      .selectFrom("session_events")
      .select((eb) => ["service_id", eb.fn.max("service_name").as("name")])
      .where("session_id", "=", sessionId)
      .where("service_id", "is not", null)
      .groupBy("service_id")
      .orderBy((eb) => eb.fn.min("seq"))
      .execute();
    return rows.map((r) => ({ id: r.service_id!, name: r.name! }));
  }

  async stats(sessionId: string, serviceId?: string): Promise<StatsSample[]> {
    await this.flush();
    let q = this.store.db.selectFrom("session_stats").selectAll().where("session_id", "=", sessionId);
    if (serviceId !== undefined) q = q.where("service_id", "=", serviceId);
    const rows = await q.orderBy("at").orderBy("rowid").execute();
    return rows.map((r) => ({
      at: iso(r.at), session_id: r.session_id, service_id: r.service_id, service_name: r.service_name, cpu_percent: r.cpu_percent,
      memory_bytes: r.memory_bytes, memory_limit_bytes: r.memory_limit_bytes, cpu_limit_cores: r.cpu_limit_cores,
    }));
  }

  /** Participant count per session, for session lists. */
  async participantCount(sessionId: string): Promise<number> {
    await this.flush();
    const r = await this.store.db
      .selectFrom("session_participants")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("session_id", "=", sessionId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}

/** One queued write, inside its batch's transaction. */
async function writeOne(trx: Transaction<Database>, w: Write): Promise<void> {
  if (w.kind === "event") {
    const e = w.e;
    if (e.kind === "session" && e.reason === SESSION_ENDED_REASON) {
      // At most one per session, whoever ends it (store/session-end.ts).
      await insertSessionEnded(trx, { session_id: e.session_id, seq: e.seq, at: Date.parse(e.at), message: e.message });
      return;
    }
    await trx.insertInto("session_events").values({
      session_id: e.session_id, seq: e.seq, at: Date.parse(e.at), kind: e.kind, type: e.type, reason: e.reason, message: e.message,
      service_id: e.service_id ?? null, service_name: e.service_name ?? null,
      participant: e.participant === undefined ? null : JSON.stringify(e.participant),
    }).onConflict((oc) => oc.columns(["session_id", "seq"]).doNothing()).execute();
  } else if (w.kind === "joined") {
    await trx.insertInto("session_participants")
      .values({ session_id: w.sessionId, participant_id: w.p.id, name: w.p.name, role: w.p.role, joined_at: w.at })
      .onConflict((oc) => oc.columns(["session_id", "participant_id"]).doUpdateSet({ left_at: null }))
      .execute();
  } else if (w.kind === "left") {
    // Only one still in: a session another node already ended keeps the left_at it recorded.
    await trx.updateTable("session_participants").set({ left_at: w.at }).where("session_id", "=", w.sessionId).where("participant_id", "=", w.participantId).where("left_at", "is", null).execute();
  } else if (w.kind === "closeAll") {
    await trx.updateTable("session_participants").set({ left_at: w.at }).where("session_id", "=", w.sessionId).where("left_at", "is", null).execute();
  } else {
    const s = w.s;
    await trx.insertInto("session_stats").values({
      session_id: s.session_id, service_id: s.service_id, service_name: s.service_name, at: Date.parse(s.at), cpu_percent: s.cpu_percent,
      memory_bytes: s.memory_bytes, memory_limit_bytes: s.memory_limit_bytes, cpu_limit_cores: s.cpu_limit_cores,
    }).execute();
  }
}
