import type { StatementSync } from "node:sqlite";
import type { ActivityEvent, ParticipantRef, StatsSample } from "@roomservice/protocol";
import { iso } from "@roomservice/protocol";
import type { Store } from "./db.ts";

interface EventRow {
  session_id: string; seq: number; at: number; kind: string; type: string; reason: string; message: string;
  service_id: string | null; service_name: string | null; participant: string | null; room?: string;
}

interface StatsRow {
  session_id: string; service_id: string; service_name: string; at: number; cpu_percent: number; memory_bytes: number;
  memory_limit_bytes: number | null; cpu_limit_cores: number | null;
}

export interface ParticipantRecord {
  id: string;
  name: string;
  role: string;
  joined_at: string;
  left_at: string | null;
}

/** Longest a queued write waits for its transaction. */
const FLUSH_MS = 100;

type Write =
  | { kind: "event"; e: ActivityEvent }
  | { kind: "joined"; sessionId: string; p: ParticipantRef; at: number }
  | { kind: "left"; sessionId: string; participantId: string; at: number }
  | { kind: "closeAll"; sessionId: string; at: number }
  | { kind: "stats"; s: StatsSample };

/**
 * What a session leaves behind for replay: its timeline (session, participant and service
 * events), who took part, and resource samples. Writes are batched into one transaction at
 * most every FLUSH_MS (synchronous=FULL makes each commit an fsync, which blocks the event
 * loop: a room start emits events and stats in many separate turns, and one fsync per turn
 * held the server for ~1.4 s of a loaded cold start — docs/benchmarks.md, issue #10). A crash
 * loses at most the last FLUSH_MS of writes; every read flushes first, so reads see them all.
 */
export class SessionEventStore {
  private readonly store: Store;
  private readonly insertEvent: StatementSync;
  private readonly insertJoined: StatementSync;
  private readonly updateLeft: StatementSync;
  private readonly insertStats: StatementSync;
  private readonly updateAllLeft: StatementSync;
  private pending: Write[] = [];
  private scheduled = false;

  constructor(store: Store) {
    this.store = store;
    const db = store.db;
    this.insertEvent = db.prepare(
      "INSERT OR IGNORE INTO session_events (session_id, seq, at, kind, type, reason, message, service_id, service_name, participant) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.insertJoined = db.prepare(
      "INSERT INTO session_participants (session_id, participant_id, name, role, joined_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET left_at = NULL",
    );
    this.updateLeft = db.prepare("UPDATE session_participants SET left_at = ? WHERE session_id = ? AND participant_id = ?");
    this.updateAllLeft = db.prepare("UPDATE session_participants SET left_at = ? WHERE session_id = ? AND left_at IS NULL");
    this.insertStats = db.prepare(
      "INSERT INTO session_stats (session_id, service_id, service_name, at, cpu_percent, memory_bytes, memory_limit_bytes, cpu_limit_cores) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
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
    this.pending.push(w);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Writes everything queued, in one transaction. Called on its own each turn, and at close. */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const db = this.store.db;
    if (!db.isOpen) return;
    db.exec("BEGIN");
    try {
      for (const w of batch) {
        if (w.kind === "event") {
          const e = w.e;
          this.insertEvent.run(
            e.session_id, e.seq, Date.parse(e.at), e.kind, e.type, e.reason, e.message, e.service_id ?? null, e.service_name ?? null,
            e.participant === undefined ? null : JSON.stringify(e.participant),
          );
        } else if (w.kind === "joined") {
          this.insertJoined.run(w.sessionId, w.p.id, w.p.name, w.p.role, w.at);
        } else if (w.kind === "left") {
          this.updateLeft.run(w.at, w.sessionId, w.participantId);
        } else if (w.kind === "closeAll") {
          this.updateAllLeft.run(w.at, w.sessionId);
        } else {
          const s = w.s;
          this.insertStats.run(s.session_id, s.service_id, s.service_name, Date.parse(s.at), s.cpu_percent, s.memory_bytes, s.memory_limit_bytes, s.cpu_limit_cores);
        }
      }
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
  }

  /** A session's timeline in order. */
  events(sessionId: string, room: string): ActivityEvent[] {
    this.flush();
    const rows = this.store.db.prepare("SELECT * FROM session_events WHERE session_id = ? ORDER BY seq").all(sessionId) as unknown as EventRow[];
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

  participants(sessionId: string): ParticipantRecord[] {
    this.flush();
    const rows = this.store.db
      .prepare("SELECT participant_id, name, role, joined_at, left_at FROM session_participants WHERE session_id = ? ORDER BY joined_at, rowid")
      .all(sessionId) as { participant_id: string; name: string; role: string; joined_at: number; left_at: number | null }[];
    return rows.map((r) => ({ id: r.participant_id, name: r.name, role: r.role, joined_at: iso(r.joined_at), left_at: r.left_at === null ? null : iso(r.left_at) }));
  }

  /** Services that took part in a session (every launched service has at least one event). */
  services(sessionId: string): { id: string; name: string }[] {
    this.flush();
    return (this.store.db
      .prepare("SELECT service_id AS id, MAX(service_name) AS name FROM session_events WHERE session_id = ? AND service_id IS NOT NULL GROUP BY service_id ORDER BY MIN(seq)")
      .all(sessionId) as { id: string; name: string }[]).map((r) => ({ id: r.id, name: r.name }));
  }

  stats(sessionId: string, serviceId?: string): StatsSample[] {
    this.flush();
    const rows = (serviceId === undefined
      ? this.store.db.prepare("SELECT * FROM session_stats WHERE session_id = ? ORDER BY at, rowid").all(sessionId)
      : this.store.db.prepare("SELECT * FROM session_stats WHERE session_id = ? AND service_id = ? ORDER BY at, rowid").all(sessionId, serviceId)) as unknown as StatsRow[];
    return rows.map((r) => ({
      at: iso(r.at), session_id: r.session_id, service_id: r.service_id, service_name: r.service_name, cpu_percent: r.cpu_percent,
      memory_bytes: r.memory_bytes, memory_limit_bytes: r.memory_limit_bytes, cpu_limit_cores: r.cpu_limit_cores,
    }));
  }

  /** Participant count per session, for session lists. */
  participantCount(sessionId: string): number {
    this.flush();
    return (this.store.db.prepare("SELECT COUNT(*) AS n FROM session_participants WHERE session_id = ?").get(sessionId) as { n: number }).n;
  }
}
