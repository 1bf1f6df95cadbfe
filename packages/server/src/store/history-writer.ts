import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.ts";

/** One write of the session history, run inside its batch's transaction. */
export type HistoryOp = (trx: Transaction<Database>) => Promise<unknown>;

/** Tuning of a HistoryWriter; the defaults are what the server uses. */
export interface HistoryWriterOptions {
  /**
   * Writes waiting for their transaction past which new ones are dropped (the database is
   * unreachable or far behind): memory stays bounded; the first drop of each such stretch is
   * reported to its writer's `onError`. Default 50,000 (~10 MB of closures at most).
   */
  maxPending?: number;
  /**
   * SQLite: longest time a committed batch may stay unsynced to disk (milliseconds). The
   * batches commit with synchronous=NORMAL (no fsync; safe against a process kill), and the
   * WAL is synced at most this long after the first unsynced one. Default 1000.
   */
  syncMs?: number;
}

interface Queued {
  op: HistoryOp;
  onError: (err: unknown) => void;
}

/** What the writer needs of its Store (kept narrow so tests can give it a bare database). */
export interface HistoryTarget {
  readonly db: Kysely<Database>;
  readonly dialect: "sqlite" | "postgres";
  /** True once the store is closing: later writes are dropped instead of failing. */
  readonly closing: boolean;
}

/**
 * Group commit for the session history (sessions, session_participants, session_events,
 * session_stats): the fire-and-forget writes of the connection path are queued and committed
 * together, in one transaction at the end of the event-loop turn in which the first of them
 * arrived — or, while an earlier batch is still being written (PostgreSQL), as soon as it is
 * done, so a burst of joins becomes a few transactions instead of one per join.
 *
 * Durability (docs/decisions.md, "Session history: group commit, no fsync per write"): every
 * history write is in one FIFO, and batches commit whole, so the store always holds a prefix
 * of the writes in call order, less any write that failed on its own (a session's start
 * before its participants and events; a kill at any moment leaves no participant without its
 * session). On SQLite a history batch
 * commits with synchronous=NORMAL: the WAL write reaches the OS, so a process kill loses
 * nothing committed, but it is not fsynced — a power loss or kernel crash can lose the history
 * of the last `syncMs` (the WAL is synced by a checkpoint at most that long after an unsynced
 * batch, and by any control-plane commit, which stays synchronous=FULL). On PostgreSQL the
 * batch runs with `SET LOCAL synchronous_commit = off`, PostgreSQL's own form of the same
 * trade (its crash can lose the last ~0.6 s of such commits; the database stays consistent).
 */
export class HistoryWriter {
  private readonly target: HistoryTarget;
  private readonly maxPending: number;
  private readonly syncMs: number;
  private pending: Queued[] = [];
  /** A setImmediate is armed to commit what is pending. */
  private scheduled = false;
  /** A commit link sits in `tail` and has not started: it takes everything pending when it does. */
  private linkWaiting = false;
  private tail: Promise<void> = Promise.resolve();
  private dropping = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private batches = 0;
  private ops = 0;

  constructor(target: HistoryTarget, o: HistoryWriterOptions = {}) {
    this.target = target;
    this.maxPending = o.maxPending ?? 50_000;
    this.syncMs = o.syncMs ?? 1000;
  }

  /** Transactions and writes committed so far (tests and benchmarks read them). */
  get committed(): { batches: number; ops: number } {
    return { batches: this.batches, ops: this.ops };
  }

  /**
   * Queues `op`; it commits with the others queued this turn. Never throws: a failed write is
   * reported to `onError` (a batch that fails for a write's data is retried one write at a
   * time, so one bad write loses only itself; see retryOneByOne).
   */
  push(op: HistoryOp, onError: (err: unknown) => void): void {
    if (this.target.closing) return;
    if (this.pending.length >= this.maxPending) {
      if (!this.dropping) {
        this.dropping = true;
        onError(new Error(`session history: ${this.maxPending} writes are waiting for the database; dropping new ones until it catches up`));
      }
      return;
    }
    this.pending.push({ op, onError });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.enqueue();
    });
  }

  /** Commits everything queued so far; resolves when it (and every earlier batch) is written. */
  flush(): Promise<void> {
    return this.enqueue();
  }

  /** Flushes, then syncs the WAL (SQLite): what is written is on disk when this resolves. */
  async flushAndSync(): Promise<void> {
    await this.flush();
    if (this.syncTimer !== null) {
      clearTimeout(this.syncTimer);
      this.syncTimer = null;
      await this.sync();
    }
  }

  private enqueue(): Promise<void> {
    if (this.linkWaiting) return this.tail;
    this.linkWaiting = true;
    this.tail = this.tail
      .then(async () => {
        this.linkWaiting = false;
        const batch = this.pending;
        this.pending = [];
        this.dropping = false;
        if (batch.length > 0 && !this.target.closing) await this.write(batch);
      })
      // write() reports every failure to its writers; a throwing onError must not stop the chain.
      .catch(() => undefined);
    return this.tail;
  }

  private async write(batch: Queued[]): Promise<void> {
    try {
      await this.transaction(batch.map((q) => q.op));
      this.batches++;
      this.ops += batch.length;
    } catch (err) {
      if (batch.length === 1) return batch[0]!.onError(err);
      if (!this.retryOneByOne(err)) {
        // Not the data's fault (PostgreSQL unreachable, say): retrying each write would wait
        // out a connection timeout per write. The batch is lost; each writer hears it once.
        const told = new Set<(err: unknown) => void>();
        for (const q of batch) {
          if (told.has(q.onError)) continue;
          told.add(q.onError);
          q.onError(new Error(`${batch.length} session history writes lost: ${(err as Error).message}`, { cause: err }));
        }
        return;
      }
      for (const q of batch) {
        try {
          await this.transaction([q.op]);
          this.batches++;
          this.ops++;
        } catch (e) {
          q.onError(e);
        }
      }
    }
  }

  /**
   * Whether a failed batch is retried write by write: always on SQLite (local, cheap); on
   * PostgreSQL only for errors of the data (SQLSTATE class 22 data exception, 23 integrity
   * constraint violation: a duplicate id), not for a lost connection.
   */
  private retryOneByOne(err: unknown): boolean {
    if (this.target.dialect === "sqlite") return true;
    const code = (err as { code?: unknown } | null)?.code;
    return typeof code === "string" && /^2[23]/.test(code);
  }

  private async transaction(ops: HistoryOp[]): Promise<void> {
    const run = async (trx: Transaction<Database>) => {
      for (const op of ops) await op(trx);
    };
    if (this.target.dialect === "postgres") {
      await this.target.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL synchronous_commit = off`.execute(trx);
        await run(trx);
      });
      return;
    }
    // One connection for the three steps: no other query may run between the PRAGMAs and
    // commit with synchronous=NORMAL (SQLite has one connection; Kysely serialises on it).
    await this.target.db.connection().execute(async (conn) => {
      await sql`PRAGMA synchronous = NORMAL`.execute(conn);
      try {
        await conn.transaction().execute(run);
      } finally {
        await sql`PRAGMA synchronous = FULL`.execute(conn);
      }
    });
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = null;
      this.tail = this.tail.then(() => this.sync());
    }, this.syncMs).unref();
  }

  /**
   * Makes the WAL durable: a passive checkpoint syncs the WAL before copying it back (the
   * connection is synchronous=FULL outside history batches). Failures are not the writers':
   * the next checkpoint (or control-plane commit) syncs it anyway.
   */
  private async sync(): Promise<void> {
    if (this.target.closing) return;
    await sql`PRAGMA wal_checkpoint(PASSIVE)`.execute(this.target.db).catch(() => undefined);
  }
}
