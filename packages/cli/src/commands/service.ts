import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { roomNameError } from "@roomservice/protocol";
import { CliError } from "../options.ts";
import type { ApiClient } from "../remote/client.ts";
import { addRemoteOptions, connect, roomPath } from "../remote/options.ts";
import type { RemoteOpts } from "../remote/target.ts";
import { listRooms } from "../remote/rooms.ts";

interface ScopeOpts extends RemoteOpts {
  room?: string;
  global?: boolean;
}

/** A service as the REST API answers it: the manifest plus id, room and the store's revision. */
interface ServiceJson {
  id: string;
  room: string | null;
  revision: number;
  metadata: { name: string };
  container?: { image?: unknown };
  /** Set when an earlier release stored a name the current rules refuse (with what to run). */
  warnings?: ServerWarning[];
  [k: string]: unknown;
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

/** Reads and checks a manifest file (the manifest package is loaded only here: it is large). */
async function readManifest(file: string | undefined): Promise<{ name: string; spec: Record<string, unknown>; warned: Set<string> }> {
  if (file === undefined) throw new CliError("-f <file>: the manifest to read (meshagent.yaml or .json)");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { parseManifest, formatErrors, formatWarnings } = await import("@roomservice/manifest");
  const r = parseManifest(text, { filename: file });
  if (!r.ok) throw new CliError(`${file} is not a valid service manifest:\n${formatErrors(r.errors, { filename: file })}`);
  // Accepted but worth knowing (fields Roomservice ignores, a command that needs a shell...).
  if (r.warnings.length > 0) process.stderr.write(`warning: ${formatWarnings(r.warnings, { filename: file }).split("\n").join("\nwarning: ")}\n`);
  return { name: r.manifest.metadata.name, spec: r.raw as Record<string, unknown>, warned: new Set(r.warnings.map((w) => `${w.path}\n${w.message}`)) };
}

type ServerWarning = { path: string; message: string };

/**
 * Prints the server's warnings for a stored manifest (missing image, a port another service
 * uses, …), except the manifest's own ones readManifest already printed.
 */
function printServerWarnings(file: string, warned: Set<string>, warnings: readonly ServerWarning[] | undefined): void {
  for (const w of warnings ?? []) {
    if (!warned.has(`${w.path}\n${w.message}`)) process.stderr.write(`warning: ${file}: ${w.path}: ${w.message}\n`);
  }
}

/** `.../services` of one room, or of the project (room null). */
async function servicesPath(c: ApiClient, room: string | null): Promise<string> {
  return `${await c.projectBase()}${room === null ? "" : roomPath(room)}/services`;
}

async function listIn(c: ApiClient, room: string | null): Promise<ServiceJson[]> {
  return (await c.request<{ services: ServiceJson[] }>("GET", await servicesPath(c, room))).services;
}

/** Every room's own services (rooms from `GET .../rooms`), after the project's. */
async function listEverywhere(c: ApiClient): Promise<ServiceJson[]> {
  const out = await listIn(c, null);
  const rooms = await listRooms(c);
  for (const r of rooms) out.push(...(await listIn(c, r.name)));
  return out;
}

const byRef = (rows: ServiceJson[], ref: string) => rows.find((s) => s.metadata.name === ref) ?? rows.find((s) => s.id === ref);

/**
 * Finds one service by name or id: in --room R or --global when given; otherwise in the
 * project, and when only rooms have it, says which (get) or refuses to guess (delete).
 */
async function findService(c: ApiClient, ref: string, o: ScopeOpts, verb: "get" | "delete"): Promise<ServiceJson> {
  if (o.room !== undefined || o.global) {
    const room = scope(o);
    const s = byRef(await listIn(c, room), ref);
    if (s === undefined) throw new CliError(`no service ${JSON.stringify(ref)} ${room === null ? "in the project (--global)" : `in room ${room}`}`);
    return s;
  }
  const project = byRef(await listIn(c, null), ref);
  if (project !== undefined) return project;
  const hits = (await listEverywhere(c)).filter((s) => s.room !== null && (s.metadata.name === ref || s.id === ref));
  if (hits.length === 0) throw new CliError(`no service ${JSON.stringify(ref)} in the project or any room`);
  const rooms = hits.map((s) => s.room!);
  if (hits.length === 1 && verb === "get") {
    process.stderr.write(`(room ${rooms[0]} has it; next time: roomservice service get ${ref} --room ${rooms[0]})\n`);
    return hits[0]!;
  }
  throw new CliError(`no project service ${JSON.stringify(ref)}; ${rooms.length === 1 ? `room ${rooms[0]} has one` : `rooms ${rooms.join(", ")} have one`}: pass --room ${rooms[0]}`);
}

export function registerService(program: Command): void {
  const svc = program.command("service").description("service manifests on the running server (changes apply at each room's next session)");

  svc
    .command("validate")
    .description("check a manifest and print what is wrong, field by field (no server needed)")
    .requiredOption("-f, --file <file>", "manifest (YAML or JSON)")
    .action(async (o: { file: string }) => {
      const m = await readManifest(o.file);
      process.stdout.write(`${o.file}: valid (service ${JSON.stringify(m.name)})\n`);
    });

  svc
    .command("spec")
    .description("print the manifest format")
    .option("--json-schema", "print a JSON Schema for editors")
    .action(async (o: { jsonSchema?: boolean }) => {
      if (!o.jsonSchema) throw new CliError("use --json-schema to print the JSON Schema");
      const { manifestJsonSchema } = await import("@roomservice/manifest");
      process.stdout.write(JSON.stringify(manifestJsonSchema(), null, 2) + "\n");
    });

  for (const verb of ["create", "update"] as const) {
    addRemoteOptions(svc.command(verb).description(verb === "create" ? "add a service" : "replace a service's manifest (matched by metadata.name)"))
      .requiredOption("-f, --file <file>", "manifest (YAML or JSON)")
      .option("--room <room>", "the service runs in this room only")
      .option("--global", "the service runs in every room")
      .action(async (o: ScopeOpts & { file: string }) => {
        const room = scope(o);
        const m = await readManifest(o.file);
        const c = connect(o);
        const path = await servicesPath(c, room);
        const where = room === null ? "the project" : `room ${room}`;
        const existing = byRef(await listIn(c, room), m.name);
        if (verb === "create") {
          if (existing !== undefined) throw new CliError(`service ${JSON.stringify(m.name)} already exists in ${where} (id ${existing.id}); use "service update"`);
          const r = await c.request<{ id: string; warnings?: ServerWarning[] }>("POST", path, m.spec);
          printServerWarnings(o.file, m.warned, r.warnings);
          process.stdout.write(`created service ${m.name} in ${where} (id ${r.id}); it starts with the next session\n`);
        } else {
          if (existing === undefined) throw new CliError(`no service named ${JSON.stringify(m.name)} in ${where}; use "service create"`);
          const r = await c.request<{ warnings?: ServerWarning[] } | undefined>("PUT", `${path}/${encodeURIComponent(existing.id)}`, m.spec);
          printServerWarnings(o.file, m.warned, r?.warnings);
          const now = await c.request<ServiceJson>("GET", `${path}/${encodeURIComponent(existing.id)}`);
          process.stdout.write(`updated service ${m.name} to revision ${now.revision}; it applies at the next session (or: roomservice room restart R ${m.name})\n`);
        }
      });
  }

  addRemoteOptions(svc.command("list").description("list services (the project's and every room's, unless --room or --global)"))
    .option("--room <room>", "a room's own services")
    .option("--global", "project services")
    .option("--json", "print JSON")
    .action(async (o: ScopeOpts & { json?: boolean }) => {
      const c = connect(o);
      const rows = o.room !== undefined || o.global ? await listIn(c, scope(o)) : await listEverywhere(c);
      if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
      else if (rows.length === 0) process.stdout.write("no services\n");
      else for (const r of rows) process.stdout.write(`${r.id}  ${r.metadata.name}  ${r.room === null ? "(global)" : `room=${r.room}`}  rev${r.revision}  image=${String(r.container?.image ?? "")}\n`);
      if (!o.json) for (const r of rows) for (const w of r.warnings ?? []) process.stderr.write(`warning: service ${r.metadata.name} (${r.id}): ${w.path}: ${w.message}\n`);
    });

  addRemoteOptions(svc.command("rename <name-or-id> <new-name>").description("give a service a new name (e.g. one stored by an earlier release under a name that is no longer valid)"))
    .option("--room <room>")
    .option("--global")
    .action(async (ref: string, newName: string, o: ScopeOpts) => {
      const { SERVICE_NAME_RE, SERVICE_NAME_RULES } = await import("@roomservice/manifest");
      if (!SERVICE_NAME_RE.test(newName)) throw new CliError(`new name ${JSON.stringify(newName)} is not a valid service name: ${SERVICE_NAME_RULES}`);
      const c = connect(o);
      const s = await findService(c, ref, o, "delete");
      const { id, revision: _rev, room, created_at: _c, updated_at: _u, warnings: _w, ...spec } = s;
      const r = await c.request<{ revision?: number } | undefined>("PUT", `${await servicesPath(c, room)}/${encodeURIComponent(id)}`, { ...spec, metadata: { ...s.metadata, name: newName } });
      process.stdout.write(`renamed service ${JSON.stringify(s.metadata.name)} to ${newName} (id ${id}${r?.revision === undefined ? "" : `, revision ${r.revision}`}); its MESHAGENT_TOKEN carries the new name from the next session\n`);
    });

  addRemoteOptions(svc.command("get <name-or-id>").description("print a service as JSON: its manifest (version \"v1\"), id, room and revision"))
    .option("--room <room>")
    .option("--global")
    .action(async (ref: string, o: ScopeOpts) => {
      const s = await findService(connect(o), ref, o, "get");
      process.stdout.write(JSON.stringify(s, null, 2) + "\n");
    });

  addRemoteOptions(svc.command("delete <name-or-id>").description("remove a service (running sessions keep it until they end)"))
    .option("--room <room>")
    .option("--global")
    .action(async (ref: string, o: ScopeOpts) => {
      const c = connect(o);
      const s = await findService(c, ref, o, "delete");
      await c.request("DELETE", `${await servicesPath(c, s.room)}/${encodeURIComponent(s.id)}`);
      process.stdout.write(`deleted service ${s.metadata.name} (${s.id})\n`);
    });
}
