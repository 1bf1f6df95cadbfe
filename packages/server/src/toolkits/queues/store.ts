import type { DatabaseSync, StatementSync } from "node:sqlite";

/** One queued message as stored: `body` is its JSON text. */
export interface StoredMessage {
  id: number;
  body: string;
}

/**
 * Queues and their messages in SQLite (migration 4): they survive a server restart. A
 * message handed to a receiver is *leased* to that receiver's participant id until it asks
 * for the next one (which acknowledges it) or leaves (which returns it to the queue).
 */
export class QueueStore {
  private readonly db: DatabaseSync;
  private readonly q: Record<string, StatementSync>;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.q = {
      get: db.prepare("SELECT durable FROM queues WHERE room = ? AND name = ?"),
      create: db.prepare("INSERT INTO queues (room, name, durable, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (room, name) DO UPDATE SET durable = max(durable, excluded.durable)"),
      count: db.prepare("SELECT count(*) AS n FROM queues WHERE room = ?"),
      list: db.prepare("SELECT q.name AS name, (SELECT count(*) FROM queue_messages m WHERE m.room = q.room AND m.name = q.name) AS size FROM queues q WHERE q.room = ? ORDER BY q.name"),
      size: db.prepare("SELECT count(*) AS n FROM queue_messages WHERE room = ? AND name = ?"),
      push: db.prepare("INSERT INTO queue_messages (room, name, body) VALUES (?, ?, ?)"),
      head: db.prepare("SELECT id, body FROM queue_messages WHERE room = ? AND name = ? AND leased_by IS NULL ORDER BY id LIMIT 1"),
      lease: db.prepare("UPDATE queue_messages SET leased_by = ? WHERE id = ?"),
      ack: db.prepare("DELETE FROM queue_messages WHERE room = ? AND name = ? AND leased_by = ?"),
      releaseHolder: db.prepare("UPDATE queue_messages SET leased_by = NULL WHERE room = ? AND leased_by = ? RETURNING name"),
      releaseAll: db.prepare("UPDATE queue_messages SET leased_by = NULL WHERE leased_by IS NOT NULL"),
      drain: db.prepare("DELETE FROM queue_messages WHERE room = ? AND name = ?"),
      drop: db.prepare("DELETE FROM queues WHERE room = ? AND name = ?"),
      dropTransient: db.prepare("DELETE FROM queues WHERE room = ? AND durable = 0 RETURNING name"),
    };
  }

  exists(room: string, name: string): boolean {
    return this.q.get!.get(room, name) !== undefined;
  }

  create(room: string, name: string, durable: boolean, now: number): void {
    this.q.create!.run(room, name, durable ? 1 : 0, now);
  }

  countQueues(room: string): number {
    return (this.q.count!.get(room) as { n: number }).n;
  }

  list(room: string): { name: string; size: number }[] {
    return this.q.list!.all(room) as { name: string; size: number }[];
  }

  size(room: string, name: string): number {
    return (this.q.size!.get(room, name) as { n: number }).n;
  }

  push(room: string, name: string, body: string): void {
    this.q.push!.run(room, name, body);
  }

  /** Acknowledges what `holder` had from this queue, then leases it the oldest free message. */
  take(room: string, name: string, holder: string): StoredMessage | null {
    this.db.exec("BEGIN");
    try {
      this.q.ack!.run(room, name, holder);
      const m = this.q.head!.get(room, name) as StoredMessage | undefined;
      if (m !== undefined) this.q.lease!.run(holder, m.id);
      this.db.exec("COMMIT");
      return m ?? null;
    } catch (err) {
      this.db.exec("ROLLBACK");
      throw err;
    }
  }

  /** Messages leased to a participant that left go back to the queue; returns the queue names. */
  releaseHolder(room: string, holder: string): string[] {
    return [...new Set((this.q.releaseHolder!.all(room, holder) as { name: string }[]).map((r) => r.name))];
  }

  /** At start-up no receiver is connected: every lease is returned. */
  releaseAll(): void {
    this.q.releaseAll!.run();
  }

  drain(room: string, name: string): void {
    this.q.drain!.run(room, name);
  }

  drop(room: string, name: string): void {
    this.q.drop!.run(room, name);
  }

  dropTransient(room: string): string[] {
    return (this.q.dropTransient!.all(room) as { name: string }[]).map((r) => r.name);
  }
}
