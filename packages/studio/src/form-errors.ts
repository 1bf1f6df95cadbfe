import type { FormModel } from "./manifest-form.ts";
import type { ManifestError } from "./types.ts";

/**
 * Which form rows reach the manifest, in order (toManifest drops empty rows), so that a
 * server error at `ports[1]` is put on the form row that became `ports[1]`.
 */
export function keptRows(f: FormModel): { env: number[]; ports: number[]; mounts: number[] } {
  const idx = <T,>(rows: T[], keep: (r: T) => boolean) => rows.flatMap((r, i) => (keep(r) ? [i] : []));
  return {
    env: idx(f.env, (e) => e.name.trim() !== ""),
    ports: idx(f.ports, (p) => p.num.trim() !== "" || p.liveness.trim() !== ""),
    mounts: idx(f.mounts, (m) => m.path.trim() !== ""),
  };
}

/** DOM ids of the form's inputs (ServiceForm uses the same functions). */
export const fieldId = {
  env: (row: number, part: "name" | "value" | "secret" | "identity" | "role" | "kind") => `f-env-${row}-${part}`,
  port: (row: number, part: "num" | "type" | "liveness") => `f-port-${row}-${part}`,
  probe: (probe: "startup" | "readiness" | "liveness", part: "kind" | "path" | "port") => `f-probe-${probe}-${part}`,
  mount: (row: number, part: "path" | "subpath") => `f-mount-${row}-${part}`,
};

const FIXED: Record<string, string> = {
  "metadata.name": "f-name",
  "metadata.description": "f-desc",
  "container.image": "f-image",
  "container.command": "f-command",
  enabled: "f-enabled",
  "roomservice.resources.memory": "f-mem",
  "roomservice.resources.cpus": "f-cpu",
};

/**
 * The id of the input a manifest error (its field path, e.g. `ports[0].liveness`) belongs to,
 * or null when the form has no control for that field (the error then stays in the list at
 * the top only). `f` is the form as it was saved.
 */
export function fieldOfError(path: string, f: FormModel): string | null {
  if (FIXED[path] !== undefined) return FIXED[path];
  const rows = keptRows(f);
  let m = /^container\.environment\[(\d+)\](?:\.(\w+))?/.exec(path);
  if (m !== null) {
    const row = rows.env[Number(m[1])];
    if (row === undefined) return null;
    const part = m[2] === "secret" ? "secret" : m[2] === "token" ? "identity" : m[2] === "value" ? "value" : "name";
    return fieldId.env(row, part);
  }
  m = /^ports\[(\d+)\](?:\.(\w+))?/.exec(path);
  if (m !== null) {
    const row = rows.ports[Number(m[1])];
    if (row === undefined) return null;
    return fieldId.port(row, m[2] === "liveness" ? "liveness" : m[2] === "type" ? "type" : "num");
  }
  m = /^container\.storage\.room\[(\d+)\](?:\.(\w+))?/.exec(path);
  if (m !== null) {
    const row = rows.mounts[Number(m[1])];
    if (row === undefined) return null;
    return fieldId.mount(row, m[2] === "subpath" ? "subpath" : "path");
  }
  m = /^roomservice\.probes\.(startup|readiness|liveness)(?:\.(\w+)(?:\.(\w+))?)?/.exec(path);
  if (m !== null) {
    const probe = m[1] as "startup" | "readiness" | "liveness";
    const kind = f.probes[probe].kind;
    if (m[3] === "port" && kind !== "none") return fieldId.probe(probe, "port");
    if (m[3] === "path" && kind === "httpGet") return fieldId.probe(probe, "path");
    return fieldId.probe(probe, "kind");
  }
  return null;
}

/** Errors grouped by the input they belong to (id → errors); the rest under `null`. */
export function errorsByField(errors: ManifestError[], f: FormModel): Map<string | null, ManifestError[]> {
  const out = new Map<string | null, ManifestError[]>();
  for (const e of errors) {
    const id = fieldOfError(e.path, f);
    out.set(id, [...(out.get(id) ?? []), e]);
  }
  return out;
}

/** Keeps digits only: port inputs refuse letters as they are typed. */
export const digitsOnly = (s: string): string => s.replace(/\D+/g, "");
