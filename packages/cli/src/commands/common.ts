import { existsSync } from "node:fs";
import { join } from "node:path";
import { Store, StoreOpenError, ApiKeyStore } from "@roomservice/server";
import { CliError } from "../options.ts";
import { resolveDataDir } from "../remote/target.ts";

/**
 * A server's data directory for the few commands that work on it directly (`apikey`,
 * `token`). It must already exist — only `serve` creates one — so a command run in the wrong
 * directory fails with where it looked instead of quietly starting a second installation.
 * The directory used is said on stderr.
 */
export function existingDataDir(dataOpt: string | undefined, needs: string): string {
  const { dir, from } = resolveDataDir(dataOpt);
  if (!existsSync(join(dir, needs))) {
    throw new CliError(
      `no Roomservice data directory at ${dir} (from ${from}; ${needs} is missing).\n` +
        `Pass the server's directory with --data DIR or ROOMSERVICE_DATA; "roomservice serve" creates one on its first start.`,
    );
  }
  process.stderr.write(`data directory: ${dir}\n`);
  return dir;
}

/**
 * The server's store and API keys: PostgreSQL when `databaseUrl` (--database) or
 * ROOMSERVICE_DATABASE_URL names one, else the data directory's SQLite file (the directory
 * must exist: see existingDataDir).
 */
export async function openLocalStores(dataOpt?: string, databaseOpt?: string) {
  const { url, source } = databaseUrlFrom(databaseOpt);
  const dataDir = existingDataDir(dataOpt, url === undefined ? "roomservice.db" : "");
  const store = await Store.open({ databaseUrl: url, databaseUrlSource: source, sqliteFile: join(dataDir, "roomservice.db") }).catch((err: Error) => {
    throw err instanceof StoreOpenError ? new CliError(err.message) : err;
  });
  return {
    dataDir,
    project: process.env.ROOMSERVICE_PROJECT_ID ?? "default",
    store,
    apiKeys: new ApiKeyStore(store),
    close: () => store.close(),
  };
}

/** `--database URL`, else env ROOMSERVICE_DATABASE_URL, else none (SQLite); and which one it was. */
export function databaseUrlFrom(databaseOpt: string | undefined): { url: string | undefined; source: string } {
  if (databaseOpt !== undefined && databaseOpt !== "") return { url: databaseOpt, source: "--database" };
  const env = process.env.ROOMSERVICE_DATABASE_URL;
  if (env !== undefined && env !== "") return { url: env, source: "ROOMSERVICE_DATABASE_URL" };
  return { url: undefined, source: "" };
}

export const DATABASE_OPTION = [
  "--database <url>",
  "PostgreSQL URL (postgres://user:password@host:5432/db) holding the control plane (env ROOMSERVICE_DATABASE_URL; default: SQLite in the data directory)",
] as const;

export const DATA_OPTION = ["--data <dir>", "the server's data directory (env ROOMSERVICE_DATA, default ./.roomservice); it must exist"] as const;
