import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { CliError } from "../options.ts";
import { promptHidden } from "../prompt.ts";
import { table } from "../format.ts";
import type { ApiClient } from "../remote/client.ts";
import { addRemoteOptions, checkRoom, connect, roomPath } from "../remote/options.ts";
import type { RemoteOpts } from "../remote/target.ts";

interface SecretJson {
  id: string;
  name: string;
  type: string;
  updated_at: string;
}

type Warning = { path: string; message: string };

interface SecretOpts extends RemoteOpts {
  room?: string;
}

/** `.../secrets` of the project, or of `--room R` (checked before anything is sent). */
async function secretsPath(c: ApiClient, o: SecretOpts): Promise<string> {
  const base = await c.projectBase();
  return o.room === undefined ? `${base}/secrets` : `${base}${roomPath(checkRoom(o.room, "--room"))}/secrets`;
}

/** The value from exactly one source: --value, --from-file, a hidden prompt on a terminal, or piped stdin. */
async function readValue(name: string, o: { value?: string; fromFile?: string }): Promise<Buffer> {
  if (o.value !== undefined && o.fromFile !== undefined) throw new CliError("pass either --value or --from-file, not both");
  if (o.value !== undefined) return Buffer.from(o.value);
  if (o.fromFile !== undefined) {
    try {
      return readFileSync(o.fromFile);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === "ENOENT" ? "no such file" : e.code === "EACCES" ? "permission denied" : e.code === "EISDIR" ? "it is a directory" : e.message;
      throw new CliError(`--from-file: cannot read ${o.fromFile} (${why})`);
    }
  }
  if (process.stdin.isTTY) return Buffer.from(await promptHidden(`value for secret ${name} (not echoed): `));
  try {
    return readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

export function registerSecret(program: Command): void {
  const sec = program.command("secret").description("secrets on the running server (values are write-only: never printed)");

  addRemoteOptions(sec.command("set <name>").description("create or replace a secret; the value comes from --value, --from-file, standard input, or a prompt that does not echo"))
    .option("--value <value>", "the value (visible in shell history: prefer the prompt, --from-file or stdin)")
    .option("--from-file <file>", "read the value from a file")
    .option("--room <room>", "a room secret (shadows a project secret of the same name)")
    .option("--type <type>", "secret type", "opaque")
    .action(async (name: string, o: SecretOpts & { value?: string; fromFile?: string; type: string }) => {
      if (o.room !== undefined) checkRoom(o.room, "--room");
      const value = await readValue(name, o);
      if (value.length === 0) throw new CliError("the secret value is empty; pass --value, --from-file or pipe it on standard input");
      const c = connect(o);
      const path = await secretsPath(c, o);
      const body = { type: o.type, data_base64: value.toString("base64") };
      // Replace in place (PUT) when the name exists, so the secret is never missing in between.
      const existing = async () => (await c.request<{ secrets: SecretJson[] }>("GET", path)).secrets.find((x) => x.name === name);
      let found = await existing();
      let r: { id: string; warnings?: Warning[] } | undefined;
      if (found === undefined) {
        try {
          r = await c.request<{ id: string; warnings?: Warning[] }>("POST", path, { name, ...body });
        } catch (err) {
          // Created by someone else since the list: replace that one.
          if (!(err instanceof CliError) || !/: 409 /.test(err.message) || (found = await existing()) === undefined) throw err;
        }
      }
      if (found !== undefined) r = { id: found.id, ...(await c.request<{ warnings?: Warning[] } | undefined>("PUT", `${path}/${encodeURIComponent(found.id)}`, body)) };
      for (const w of r!.warnings ?? []) process.stderr.write(`warning: secret ${name}: ${w.message}\n`);
      process.stdout.write(`${found === undefined ? "stored" : "replaced"} secret ${name}${o.room === undefined ? "" : ` in room ${o.room}`} (id ${r!.id}, ${value.length} bytes)\n`);
    });

  addRemoteOptions(sec.command("list").description("list secret names (never values)"))
    .option("--room <room>", "a room's secrets")
    .action(async (o: SecretOpts) => {
      const c = connect(o);
      const { secrets } = await c.request<{ secrets: SecretJson[] }>("GET", await secretsPath(c, o));
      if (secrets.length === 0) process.stdout.write("no secrets\n");
      else process.stdout.write(table(["ID", "NAME", "TYPE", "UPDATED"], secrets.map((r) => [r.id, r.name, r.type, r.updated_at])));
    });

  addRemoteOptions(sec.command("delete <name>").description("delete a secret by name or id"))
    .option("--room <room>", "a room's secret")
    .action(async (name: string, o: SecretOpts) => {
      const c = connect(o);
      const path = await secretsPath(c, o);
      const { secrets } = await c.request<{ secrets: SecretJson[] }>("GET", path);
      const s = secrets.find((x) => x.name === name) ?? secrets.find((x) => x.id === name);
      if (s === undefined) throw new CliError(`no secret ${JSON.stringify(name)}${o.room === undefined ? " in the project" : ` in room ${o.room}`}`);
      await c.request("DELETE", `${path}/${encodeURIComponent(s.id)}`);
      process.stdout.write(`deleted secret ${s.name}\n`);
    });
}
