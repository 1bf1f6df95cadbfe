import { resolve, join } from "node:path";
import { Store, ServiceStore, SecretStore, ApiKeyStore, loadProjectSecret } from "@roomservice/server";

/** The local data directory's stores, for commands that edit configuration directly. */
export function openLocalStores(dataOpt?: string) {
  const dataDir = resolve(dataOpt ?? process.env.ROOMSERVICE_DATA ?? ".roomservice");
  const store = new Store(join(dataDir, "roomservice.db"));
  const secret = loadProjectSecret(dataDir);
  return {
    dataDir,
    project: process.env.ROOMSERVICE_PROJECT_ID ?? "default",
    store,
    services: new ServiceStore(store),
    secrets: new SecretStore(store, secret),
    apiKeys: new ApiKeyStore(store),
    close: () => store.close(),
  };
}

export const DATA_OPTION = ["--data <dir>", "data directory (env ROOMSERVICE_DATA, default ./.roomservice)"] as const;
