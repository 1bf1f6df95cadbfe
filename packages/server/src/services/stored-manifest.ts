/**
 * Stored manifests checked by the rules of the release that runs them. Some rules got stricter
 * after services were stored with them: a service name must be a DNS label (it was any
 * string), an MCP label a toolkit name, agent and token names participant names (see
 * @roomservice/manifest). A database written by an older release can hold such a service.
 * Refusing to launch it would break a room that worked; renaming it would change what the user
 * typed (and the participant name its token carries). So a name that only breaks a newer rule
 * is kept as stored, the service keeps running, and it is reported — in `service list`/REST
 * (`warnings`), Studio's service list, and once in the log at startup — with the command that
 * renames it. Every other invalid field still fails the launch with its located error.
 */
import { validateManifestObject, type Manifest, type ManifestError } from "@roomservice/manifest";
import type { ServiceRecord, ServiceStore } from "./service-store.ts";
import type { ServiceWarning } from "./service-warnings.ts";

/** A name kept as stored although the current rules refuse it. */
export interface LegacyName {
  /** Manifest path, e.g. `metadata.name`, `ports[0].endpoints[1].mcp.label`. */
  path: string;
  /** The stored value (kept as is). */
  value: string;
  /** What the current rules say about it. */
  message: string;
  expected: string;
}

export type StoredManifestCheck =
  | { ok: true; manifest: Manifest; legacy: LegacyName[] }
  | { ok: false; errors: ManifestError[] };

/** Paths whose stored value may predate the current name rules (the older rule was "a non-empty string"). */
const LEGACY_PATHS = [
  /^metadata\.name$/,
  /^ports\[\d+\]\.endpoints\[\d+\]\.mcp\.label$/,
  /^ports\[\d+\]\.endpoints\[\d+\]\.meshagent\.identity$/,
  /^agents\[\d+\]\.name$/,
  /^container\.environment\[\d+\]\.token\.identity$/,
];

/** `ports[0].endpoints[1].mcp.label` → ["ports", 0, "endpoints", 1, "mcp", "label"]. */
function segmentsOf(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

function at(obj: unknown, segs: (string | number)[]): unknown {
  let cur = obj;
  for (const s of segs) cur = cur === null || typeof cur !== "object" ? undefined : (cur as Record<string | number, unknown>)[s];
  return cur;
}

function put(obj: unknown, segs: (string | number)[], value: unknown): void {
  const parent = at(obj, segs.slice(0, -1));
  if (parent !== null && typeof parent === "object") (parent as Record<string | number, unknown>)[segs[segs.length - 1]!] = value;
}

/**
 * Validates a stored manifest. Names that break only a rule newer than the store (see the
 * module comment) are kept as stored and listed in `legacy`; anything else invalid is an error.
 */
export function checkStoredManifest(spec: Record<string, unknown>): StoredManifestCheck {
  const legacy: { segs: (string | number)[]; name: LegacyName }[] = [];
  let copy = spec;
  let firstErrors: ManifestError[] | null = null;
  // Schema errors (a name's shape) come before cross-field ones (a duplicate label), so a
  // manifest can need a second round once the first round's names have stand-ins.
  for (let round = 0; round < 3; round++) {
    const r = validateManifestObject(copy);
    if (r.ok) {
      for (const l of legacy) put(r.manifest, l.segs, l.name.value);
      return { ok: true, manifest: r.manifest, legacy: legacy.map((l) => l.name) };
    }
    firstErrors ??= r.errors;
    const fail = { ok: false as const, errors: round === 0 ? r.errors : [...firstErrors, ...r.errors.filter((e) => !firstErrors!.some((f) => f.path === e.path))] };
    const found: typeof legacy = [];
    for (const e of r.errors) {
      if (!LEGACY_PATHS.some((re) => re.test(e.path))) return fail;
      const segs = segmentsOf(e.path);
      const value = at(spec, segs);
      // The older rule: a non-empty string. Anything else was never valid.
      if (typeof value !== "string" || value === "") return fail;
      found.push({ segs, name: { path: e.path, value, message: e.message, expected: e.expected } });
    }
    if (round === 0) copy = structuredClone(spec);
    // Stand-ins that pass every rule (and are unique), to check the rest of the manifest.
    for (const f of found) put(copy, f.segs, `legacy-name-${legacy.length + found.indexOf(f)}`);
    legacy.push(...found);
  }
  return { ok: false, errors: firstErrors ?? [] };
}

/** The command that gives a service a valid name (names are unique per scope: project or room). */
export function renameCommand(rec: Pick<ServiceRecord, "id" | "room">): string {
  return `roomservice service rename ${rec.id} <new-name>${rec.room === null ? " --global" : ` --room ${rec.room}`}`;
}

/** A stored service's legacy names as API warnings (what is wrong, and what to run). */
export function legacyNameWarnings(rec: ServiceRecord): ServiceWarning[] {
  const v = checkStoredManifest(rec.spec);
  if (!v.ok) {
    return v.errors.map((e) => ({ path: e.path, message: `stored by an earlier release and invalid now: ${e.message} (expected ${e.expected}); the service cannot start until it is updated` }));
  }
  return v.legacy.map((l) => ({
    path: l.path,
    message: l.path === "metadata.name"
      ? `${JSON.stringify(l.value)} ${l.message} under the current rules (${l.expected}); it was stored by an earlier release and keeps working as it is; rename it with: ${renameCommand(rec)}`
      : `${JSON.stringify(l.value)} ${l.message} under the current rules (${l.expected}); it was stored by an earlier release and is kept as it is; change it at the next edit (roomservice service update, or Studio)`,
  }));
}

/**
 * Every stored service (project and rooms) with a name the current rules refuse or a manifest
 * that no longer validates: what `serve` logs once at startup.
 */
export async function storedServiceProblems(services: ServiceStore, project: string): Promise<{ rec: ServiceRecord; warnings: ServiceWarning[] }[]> {
  const all = [...(await services.list(project, null)), ...(await services.allRooms(project))];
  return all.map((rec) => ({ rec, warnings: legacyNameWarnings(rec) })).filter((x) => x.warnings.length > 0);
}
