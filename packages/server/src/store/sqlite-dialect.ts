import type { DatabaseSync, StatementSync } from "node:sqlite";
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from "kysely";

/**
 * Kysely's built-in SQLite dialect over node:sqlite. Kysely's SqliteDialect is written for
 * better-sqlite3's shape (`stmt.reader`, parameters as one array); node:sqlite (no native
 * addon to compile) differs only there, so this adapter is the whole port. No maintained
 * npm package did this when it was written (docs/decisions.md). Prepared statements are
 * cached by SQL text (bounded), as the hand-written stores did before.
 */
export function nodeSqliteDialect(db: DatabaseSync, maxCached = 256): SqliteDialect {
  const cache = new Map<string, SqliteStatement>();
  const adapter: SqliteDatabase = {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      let s = cache.get(sql);
      if (s !== undefined) return s;
      s = wrap(db.prepare(sql));
      if (cache.size >= maxCached) cache.delete(cache.keys().next().value!);
      cache.set(sql, s);
      return s;
    },
  };
  return new SqliteDialect({ database: adapter });
}

type Param = null | number | bigint | string | NodeJS.ArrayBufferView;

function wrap(stmt: StatementSync): SqliteStatement {
  // A statement returns rows when it has result columns (SELECT, or anything with RETURNING).
  const reader = stmt.columns().length > 0;
  return {
    reader,
    all: (p) => stmt.all(...(p as Param[])) as unknown[],
    run: (p) => stmt.run(...(p as Param[])),
    iterate: (p) => stmt.iterate(...(p as Param[])) as IterableIterator<unknown>,
  };
}
