import { existsSync } from "node:fs";
import { join } from "node:path";
import { Store, ApiKeyStore } from "@roomservice/server";
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

/** The data directory's store and API keys (the directory must exist: see existingDataDir). */
export function openLocalStores(dataOpt?: string) {
  const dataDir = existingDataDir(dataOpt, "roomservice.db");
  const store = new Store(join(dataDir, "roomservice.db"));
  return {
    dataDir,
    project: process.env.ROOMSERVICE_PROJECT_ID ?? "default",
    store,
    apiKeys: new ApiKeyStore(store),
    close: () => store.close(),
  };
}

export const DATA_OPTION = ["--data <dir>", "the server's data directory (env ROOMSERVICE_DATA, default ./.roomservice); it must exist"] as const;
