import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { CliError } from "../options.ts";
import { openLocalStores, DATA_OPTION } from "./common.ts";

function readStdin(): Buffer {
  try {
    return readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

export function registerSecret(program: Command): void {
  const sec = program.command("secret").description("manage secrets (values are write-only: never printed)");

  sec
    .command("set <name>")
    .description("create or replace a secret; the value comes from --value, --from-file or standard input")
    .option("--value <value>", "the value (visible in shell history: prefer --from-file or stdin)")
    .option("--from-file <file>", "read the value from a file")
    .option("--room <room>", "a room secret (shadows a project secret of the same name)")
    .option("--type <type>", "secret type", "opaque")
    .option(...DATA_OPTION)
    .action((name: string, o: { value?: string; fromFile?: string; room?: string; type: string; data?: string }) => {
      if (o.value !== undefined && o.fromFile !== undefined) throw new CliError("pass either --value or --from-file, not both");
      const value = o.value !== undefined ? Buffer.from(o.value) : o.fromFile !== undefined ? readFileSync(o.fromFile) : readStdin();
      if (value.length === 0) throw new CliError("the secret value is empty; pass --value, --from-file or pipe it on standard input");
      const s = openLocalStores(o.data);
      try {
        const info = s.secrets.set(s.project, o.room ?? null, name, o.type, value, Date.now());
        process.stdout.write(`stored secret ${info.name} (id ${info.id}, ${value.length} bytes)\n`);
      } catch (err) {
        throw new CliError((err as Error).message);
      } finally {
        s.close();
      }
    });

  sec
    .command("list")
    .description("list secret names (never values)")
    .option("--room <room>", "a room's secrets")
    .option(...DATA_OPTION)
    .action((o: { room?: string; data?: string }) => {
      const s = openLocalStores(o.data);
      try {
        const rows = s.secrets.list(s.project, o.room ?? null);
        if (rows.length === 0) process.stdout.write("no secrets\n");
        for (const r of rows) process.stdout.write(`${r.id}  ${r.name}  type=${r.type}  updated=${new Date(r.updatedAt).toISOString()}\n`);
      } finally {
        s.close();
      }
    });

  sec
    .command("delete <name>")
    .option("--room <room>")
    .option(...DATA_OPTION)
    .action((name: string, o: { room?: string; data?: string }) => {
      const s = openLocalStores(o.data);
      try {
        const info = s.secrets.findByName(s.project, o.room ?? null, name) ?? s.secrets.getInfo(name);
        if (info === undefined) throw new CliError(`no secret ${JSON.stringify(name)}${o.room ? ` in room ${o.room}` : ""}`);
        s.secrets.delete(info.id);
        process.stdout.write(`deleted secret ${info.name}\n`);
      } finally {
        s.close();
      }
    });

  program
    .command("apikey")
    .description("create an admin API key for the REST API (printed once)")
    .argument("<action>", "create | list | delete")
    .argument("[name-or-id]")
    .option(...DATA_OPTION)
    .action((action: string, ref: string | undefined, o: { data?: string }) => {
      const s = openLocalStores(o.data);
      try {
        if (action === "create") {
          const k = s.apiKeys.create(s.project, ref ?? "default", Date.now());
          process.stdout.write(k.key + "\n");
        } else if (action === "list") {
          for (const k of s.apiKeys.list(s.project)) process.stdout.write(`${k.id}  ${k.name}  ${new Date(k.createdAt).toISOString()}\n`);
        } else if (action === "delete") {
          if (ref === undefined || !s.apiKeys.delete(ref)) throw new CliError(`no API key ${JSON.stringify(ref)}`);
          process.stdout.write("deleted\n");
        } else throw new CliError(`apikey: expected create, list or delete, got ${JSON.stringify(action)}`);
      } finally {
        s.close();
      }
    });
}
