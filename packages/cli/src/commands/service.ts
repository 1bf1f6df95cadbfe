import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { parseManifest, formatErrors, formatWarnings, manifestJsonSchema } from "@roomservice/manifest";
import { portConflictWarnings, roomNameError, type ServiceRecord } from "@roomservice/server";
import { CliError } from "../options.ts";
import { openLocalStores, DATA_OPTION } from "./common.ts";

interface ScopeOpts {
  room?: string;
  global?: boolean;
  data?: string;
}

function scope(o: ScopeOpts): string | null {
  if (o.room !== undefined && o.global) throw new CliError("pass either --room R or --global, not both");
  if (o.room === undefined && !o.global) throw new CliError("say where the service lives: --room R (one room) or --global (every room of the project)");
  if (o.room !== undefined) {
    const err = roomNameError(o.room);
    if (err !== null) throw new CliError(`--room: ${err}`);
  }
  return o.room ?? null;
}

function readManifest(file: string | undefined): { name: string; spec: Record<string, unknown> } {
  if (file === undefined) throw new CliError("-f <file>: the manifest to read (meshagent.yaml or .json)");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const r = parseManifest(text, { filename: file });
  if (!r.ok) throw new CliError(`${file} is not a valid service manifest:\n${formatErrors(r.errors, { filename: file })}`);
  // Accepted but worth knowing (fields Roomservice ignores, a command that needs a shell...).
  if (r.warnings.length > 0) process.stderr.write(`warning: ${formatWarnings(r.warnings, { filename: file }).split("\n").join("\nwarning: ")}\n`);
  return { name: r.manifest.metadata.name, spec: r.raw as Record<string, unknown> };
}

export function registerService(program: Command): void {
  const svc = program.command("service").description("manage service manifests (changes apply at each room's next session)");

  svc
    .command("validate")
    .description("check a manifest and print what is wrong, field by field")
    .requiredOption("-f, --file <file>", "manifest (YAML or JSON)")
    .action((o: { file: string }) => {
      const m = readManifest(o.file);
      process.stdout.write(`${o.file}: valid (service ${JSON.stringify(m.name)})\n`);
    });

  svc
    .command("spec")
    .description("print the manifest format")
    .option("--json-schema", "print a JSON Schema for editors")
    .action((o: { jsonSchema?: boolean }) => {
      if (!o.jsonSchema) throw new CliError("use --json-schema to print the JSON Schema");
      process.stdout.write(JSON.stringify(manifestJsonSchema(), null, 2) + "\n");
    });

  for (const verb of ["create", "update"] as const) {
    svc
      .command(verb)
      .description(verb === "create" ? "add a service" : "replace a service's manifest (matched by metadata.name)")
      .requiredOption("-f, --file <file>", "manifest (YAML or JSON)")
      .option("--room <room>", "the service runs in this room only")
      .option("--global", "the service runs in every room")
      .option(...DATA_OPTION)
      .action((o: ScopeOpts & { file: string }) => {
        const room = scope(o);
        const m = readManifest(o.file);
        const s = openLocalStores(o.data);
        try {
          const existing = s.services.findByName(s.project, room, m.name);
          for (const w of portConflictWarnings(s.services, s.project, room, m.name, m.spec)) process.stderr.write(`warning: ${o.file}: ${w.path}: ${w.message}\n`);
          if (verb === "create") {
            if (existing !== undefined) throw new CliError(`service ${JSON.stringify(m.name)} already exists (id ${existing.id}); use "service update"`);
            const rec = s.services.create(s.project, room, m.name, m.spec, Date.now());
            process.stdout.write(`created service ${rec.name} (id ${rec.id}); it starts with the next session\n`);
          } else {
            if (existing === undefined) throw new CliError(`no service named ${JSON.stringify(m.name)} ${room === null ? "in the project" : `in room ${room}`}; use "service create"`);
            const rec = s.services.update(existing.id, m.name, m.spec, Date.now());
            process.stdout.write(`updated service ${rec.name} to version ${rec.version}; it applies at the next session (or services.restart)\n`);
          }
        } finally {
          s.close();
        }
      });
  }

  svc
    .command("list")
    .description("list services")
    .option("--room <room>", "a room's own services")
    .option("--global", "project services")
    .option("--json", "print JSON")
    .option(...DATA_OPTION)
    .action((o: ScopeOpts & { json?: boolean }) => {
      const s = openLocalStores(o.data);
      try {
        const rows = o.room !== undefined || o.global ? s.services.list(s.project, scope(o)) : [...s.services.list(s.project, null), ...s.store.db.prepare("SELECT DISTINCT room FROM services WHERE room IS NOT NULL").all().flatMap((r) => s.services.list(s.project, (r as { room: string }).room))];
        if (o.json) process.stdout.write(JSON.stringify(rows.map((r) => ({ id: r.id, name: r.name, room: r.room, version: r.version, spec: r.spec })), null, 2) + "\n");
        else if (rows.length === 0) process.stdout.write("no services\n");
        else for (const r of rows) process.stdout.write(`${r.id}  ${r.name}  ${r.room === null ? "(global)" : `room=${r.room}`}  v${r.version}  image=${String((r.spec.container as { image?: unknown } | undefined)?.image ?? "")}\n`);
      } finally {
        s.close();
      }
    });

  // get and delete: find one service by id or by name (in --room R, or the project's).
  const byRef = (verb: string, description: string, act: (rec: ServiceRecord, s: ReturnType<typeof openLocalStores>) => void) =>
    svc
      .command(`${verb} <name-or-id>`)
      .description(description)
      .option("--room <room>")
      .option("--global")
      .option(...DATA_OPTION)
      .action((ref: string, o: ScopeOpts) => {
        const s = openLocalStores(o.data);
        try {
          const rec = s.services.get(ref) ?? s.services.findByName(s.project, o.room ?? null, ref);
          if (rec === undefined) throw new CliError(`no service ${JSON.stringify(ref)}${o.room ? ` in room ${o.room}` : ""}`);
          act(rec, s);
        } finally {
          s.close();
        }
      });
  byRef("get", "print a service's manifest as JSON", (rec) => {
    process.stdout.write(JSON.stringify({ id: rec.id, room: rec.room, version: rec.version, ...rec.spec }, null, 2) + "\n");
  });
  byRef("delete", "remove a service (running sessions keep it until they end)", (rec, s) => {
    s.services.delete(rec.id);
    process.stdout.write(`deleted service ${rec.name} (${rec.id})\n`);
  });
}
