import { DatabaseSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import type { Database } from "./schema.ts";
import { MIGRATIONS } from "./migrations.ts";
import { nodeSqliteDialect } from "./sqlite-dialect.ts";
import { HistoryWriter } from "./history-writer.ts";

export type { Database } from "./schema.ts";

/** Which engine holds the control plane. */
export type StoreDialect = "sqlite" | "postgres";

/** A database Roomservice will not use as it is; `message` says why and what to do. */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";
}

/** Where `Store.open` puts the control plane. */
export interface StoreOptions {
  /** A postgres:// (or postgresql://) URL; when absent, the embedded SQLite file `sqliteFile`. */
  databaseUrl?: string | undefined;
  /** The SQLite file (or ":memory:"), used when databaseUrl is absent. */
  sqliteFile: string;
  /** Where the URL came from, for error messages ("--database", "ROOMSERVICE_DATABASE_URL"). */
  databaseUrlSource?: string;
  /** Pool errors of idle PostgreSQL connections are logged here (they would crash the process otherwise). */
  logger?: Logger;
  /** PostgreSQL pool size (connections per node). Default 10. */
  poolSize?: number;
}

const PG_INT8 = 20;
/** pg_advisory_xact_lock key serialising migrations when several nodes start at once. */
const MIGRATION_LOCK = 0x726f6f6d; // "room"

/**
 * The control-plane database: one Kysely instance over either the embedded SQLite file
 * (node:sqlite, the default) or PostgreSQL (`serve --database postgres://…`). The stores
 * (sessions, services, secrets, API keys, LLM, room events) take a Store and write one set
 * of queries that Kysely compiles for whichever dialect it holds.
 *
 * SQLite runs WAL + synchronous=FULL so a crash at any moment loses no committed row; a
 * PostgreSQL commit is durable when it returns. The one exception is the session history,
 * written through `history` (group commit; a process kill loses nothing committed, a power
 * loss its last second — store/history-writer.ts, docs/decisions.md). Migrations
 * (store/migrations.ts) run at open.
 */
export class Store {
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  /** SQLite: the file path; null on PostgreSQL. */
  readonly sqliteFile: string | null;
  /** PostgreSQL: the connection pool (LISTEN/NOTIFY needs a client of its own: `pgPool.connect()`); null on SQLite. */
  readonly pgPool: pg.Pool | null;
  /** The session history's group-commit writer (sessions, participants, events, stats). */
  readonly history: HistoryWriter;
  private readonly drains = new Set<() => Promise<void>>();
  private closed: Promise<void> | null = null;
  private drained = false;

  private constructor(db: Kysely<Database>, dialect: StoreDialect, sqliteFile: string | null, pgPool: pg.Pool | null) {
    this.db = db;
    this.dialect = dialect;
    this.sqliteFile = sqliteFile;
    this.pgPool = pgPool;
    this.history = new HistoryWriter(this);
    this.addWriter(() => this.history.flush());
  }

  /** Opens (and migrates) PostgreSQL when `databaseUrl` is set, the SQLite file otherwise. Throws StoreOpenError. */
  static open(o: StoreOptions): Promise<Store> {
    if (o.databaseUrl !== undefined && o.databaseUrl !== "") return Store.openPostgres(o.databaseUrl, o);
    return Promise.resolve(Store.openSqlite(o.sqliteFile));
  }

  /** Opens the SQLite file (created with its directory when missing) and runs missing migrations. */
  static openSqlite(file: string): Store {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    const raw = new DatabaseSync(file);
    try {
      raw.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;");
      migrateSqlite(raw, file);
    } catch (err) {
      raw.close();
      throw err;
    }
    return new Store(new Kysely<Database>({ dialect: nodeSqliteDialect(raw) }), "sqlite", file, null);
  }

  /** Connects to PostgreSQL, checks it answers, and runs missing migrations. Throws StoreOpenError. */
  static async openPostgres(url: string, o: Omit<StoreOptions, "sqliteFile" | "databaseUrl"> = {}): Promise<Store> {
    const from = o.databaseUrlSource ?? "the database URL";
    const where = describeUrl(url, from);
    const pool = new pg.Pool({
      connectionString: url,
      max: o.poolSize ?? 10,
      connectionTimeoutMillis: 10_000,
      // BIGINT columns hold millisecond timestamps and counts, all far below 2^53.
      types: { getTypeParser: ((oid: number, format?: "text" | "binary") => (oid === PG_INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as "text"))) as typeof pg.types.getTypeParser },
    });
    pool.on("error", (err) => o.logger?.error({ err: err.message }, "PostgreSQL connection lost (the pool opens a new one on the next query)"));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      await sql`SELECT 1`.execute(db);
    } catch (err) {
      await db.destroy().catch(() => {});
      throw new StoreOpenError(`cannot connect to PostgreSQL ${where}: ${pgReason(err)}`, { cause: err });
    }
    try {
      await migratePostgres(db);
    } catch (err) {
      await db.destroy().catch(() => {});
      if (err instanceof StoreOpenError) throw err;
      throw new StoreOpenError(`PostgreSQL ${where}: schema migration failed: ${(err as Error).message}`, { cause: err });
    }
    return new Store(db, "postgres", null, pool);
  }

  /**
   * Registers a writer that queues writes without waiting (WriteQueue users): `settled`
   * resolves when what it queued so far is written. close() waits for every writer, and
   * settled() lets a reader of other tables see them (read-your-writes on this node).
   */
  addWriter(settled: () => Promise<void>): void {
    this.drains.add(settled);
  }

  /**
   * Runs `fn` while holding the installation-wide lock `name`: on PostgreSQL a session
   * advisory lock on one pooled connection (so nodes of a cluster sharing the database run
   * such sections one at a time; `fn` itself may use any connection); on SQLite `fn` runs
   * as is, since the data directory's lock already admits one process. Used for one-time
   * set-ups that read, decide and write (the demo room).
   */
  async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.pgPool === null) return fn();
    const client = await this.pgPool.connect();
    try {
      await client.query("SELECT pg_advisory_lock(hashtext($1))", [`roomservice:${name}`]);
      try {
        return await fn();
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [`roomservice:${name}`]);
      }
    } finally {
      client.release();
    }
  }

  /** Resolves when every registered writer's queued writes are applied. */
  async settled(): Promise<void> {
    for (const d of this.drains) await d().catch(() => {});
  }

  /** True once close() has drained the writers: later fire-and-forget writes are dropped instead of failing. */
  get closing(): boolean {
    return this.drained;
  }

  /** Waits for queued writes, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      for (const d of this.drains) await d().catch(() => {});
      await this.history.flushAndSync().catch(() => {});
      this.drained = true;
      await this.db.destroy();
    })();
    return this.closed;
  }
}

/** The schema version a database holds vs. what this build knows; newer is refused. */
function refuseNewer(found: number, where: string): void {
  if (found > MIGRATIONS.length) {
    throw new StoreOpenError(
      `${where} has schema version ${found}, but this Roomservice knows versions up to ${MIGRATIONS.length}: ` +
        `a newer Roomservice has used it. Run that version (or newer), or point this one at another database.`,
    );
  }
}

/** SQLite keeps its schema version in PRAGMA user_version (as every earlier release did). */
function migrateSqlite(db: DatabaseSync, file: string): void {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number };
  refuseNewer(row.user_version, `the SQLite database ${file}`);
  for (let v = row.user_version; v < MIGRATIONS.length; v++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[v]!.sqlite);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw new Error(`store migration ${v + 1} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * PostgreSQL keeps its version in a one-row table. Everything runs in one transaction under
 * an advisory lock, so nodes starting together migrate once and a failed migration leaves
 * the previous schema (PostgreSQL's DDL is transactional).
 */
async function migratePostgres(db: Kysely<Database>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS roomservice_schema (version INTEGER NOT NULL)`.execute(trx);
    const rows = (await sql<{ version: number }>`SELECT version FROM roomservice_schema`.execute(trx)).rows;
    if (rows.length === 0) await sql`INSERT INTO roomservice_schema (version) VALUES (0)`.execute(trx);
    const found = rows[0]?.version ?? 0;
    refuseNewer(found, "the PostgreSQL database");
    for (let v = found; v < MIGRATIONS.length; v++) {
      try {
        await sql.raw(MIGRATIONS[v]!.postgres).execute(trx);
      } catch (err) {
        throw new Error(`store migration ${v + 1} failed: ${(err as Error).message}`, { cause: err });
      }
    }
    if (found < MIGRATIONS.length) await sql`UPDATE roomservice_schema SET version = ${MIGRATIONS.length}`.execute(trx);
  });
}

/** "at host:port/db (from --database)" without the password; a malformed URL says so. */
function describeUrl(url: string, from: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new StoreOpenError(`${from}: expected a URL like postgres://user:password@host:5432/database, got ${JSON.stringify(redact(url))}`);
  }
  let u: URL;
  try {
    // libpq's socket form postgres://user@/db?host=/run/postgresql has an empty host, which
    // WHATWG URL rejects after a user name (pg accepts it): parse it with a stand-in host.
    u = new URL(url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*@)(?=\/)/, "$1localhost"));
  } catch {
    throw new StoreOpenError(`${from}: ${JSON.stringify(redact(url))} is not a valid URL (expected postgres://user:password@host:5432/database; percent-encode special characters in the password)`);
  }
  const host = u.searchParams.get("host") ?? (u.host === "" ? "localhost" : u.host);
  return `at ${host}${u.pathname} (from ${from})`;
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/** What went wrong connecting, with what to do about it. */
function pgReason(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  const msg = e?.message ?? String(err);
  switch (e?.code) {
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EHOSTUNREACH":
    case "ETIMEDOUT":
    case "ENOENT":
      return `${msg}. Is PostgreSQL running and reachable at that address? Check the host and port in the URL.`;
    case "28P01":
    case "28000":
      return `${msg}. Check the user and password in the URL.`;
    case "3D000":
      return `${msg}. Create it first (createdb NAME, or CREATE DATABASE) or fix the database name in the URL.`;
    default:
      return /timeout/i.test(msg) ? `${msg}. Is PostgreSQL running and reachable at that address?` : msg;
  }
}

/** A UNIQUE/PRIMARY KEY violation, from either engine (SQLite errcode 19 family; PostgreSQL 23505). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errcode?: number } | null;
  if (e?.code === "23505") return true;
  return e?.code === "ERR_SQLITE_ERROR" && typeof e.errcode === "number" && (e.errcode & 0xff) === 19;
}
