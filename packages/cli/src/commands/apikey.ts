import type { Command } from "commander";
import { CliError } from "../options.ts";
import { table } from "../format.ts";
import { openLocalStores, DATA_OPTION, DATABASE_OPTION } from "./common.ts";

/**
 * `apikey` works on the data directory itself: it is how an operator gets a first key, so it
 * cannot need one. (A key for the CLI on the server's own machine is already in
 * <data>/cli-access.json.)
 */
export function registerApiKey(program: Command): void {
  program
    .command("apikey")
    .description("create, list or delete admin API keys for the REST API (works on the data directory; the key is printed once)")
    .argument("<action>", "create | list | delete")
    .argument("[name-or-id]")
    .option(...DATA_OPTION)
    .option(...DATABASE_OPTION)
    .action(async (action: string, ref: string | undefined, o: { data?: string; database?: string }) => {
      if (!["create", "list", "delete"].includes(action)) throw new CliError(`apikey: expected create, list or delete, got ${JSON.stringify(action)}`);
      const s = await openLocalStores(o.data, o.database);
      try {
        if (action === "create") {
          const k = await s.apiKeys.create(s.project, ref ?? "default", Date.now());
          process.stdout.write(k.key + "\n");
        } else if (action === "list") {
          const keys = await s.apiKeys.list(s.project);
          process.stdout.write(keys.length === 0 ? "no API keys\n" : table(["ID", "NAME", "CREATED"], keys.map((k) => [k.id, k.name, new Date(k.createdAt).toISOString()])));
        } else {
          if (ref === undefined) throw new CliError("apikey delete: which key? pass its id (roomservice apikey list shows them)");
          if (!(await s.apiKeys.delete(ref))) throw new CliError(`no API key with id ${JSON.stringify(ref)} (roomservice apikey list shows them)`);
          process.stdout.write("deleted\n");
        }
      } finally {
        await s.close();
      }
    });
}
