import type { EnvVar } from "./types.ts";

/** One environment row of the form: exactly one of value / secret / token, as in the manifest. */
export interface EnvRow {
  name: string;
  kind: "value" | "secret" | "token";
  value: string;
  secretId: string;
  identity: string;
  role: string;
}

export interface PortRow {
  num: string;
  type: "http" | "tcp";
  liveness: string;
}

export interface ProbeRow {
  kind: "none" | "httpGet" | "tcpSocket";
  path: string;
  port: string;
}

export interface MountRow {
  path: string;
  subpath: string;
  readOnly: boolean;
}

/** The Add/Edit service form; maps to and from a manifest (fields it has no control for survive). */
export interface FormModel {
  name: string;
  description: string;
  image: string;
  command: string;
  enabled: boolean;
  env: EnvRow[];
  ports: PortRow[];
  probes: { startup: ProbeRow; readiness: ProbeRow; liveness: ProbeRow };
  mounts: MountRow[];
  memory: string;
  cpus: string;
}

export type Manifest = Record<string, unknown>;
type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (v === undefined || v === null ? "" : String(v));

export const emptyEnv = (): EnvRow => ({ name: "", kind: "value", value: "", secretId: "", identity: "", role: "agent" });
export const emptyPort = (): PortRow => ({ num: "", type: "http", liveness: "" });
export const emptyMount = (): MountRow => ({ path: "", subpath: "", readOnly: false });
const noProbe = (): ProbeRow => ({ kind: "none", path: "", port: "" });

export function emptyForm(): FormModel {
  return {
    name: "", description: "", image: "", command: "", enabled: true, env: [], ports: [],
    probes: { startup: noProbe(), readiness: noProbe(), liveness: noProbe() }, mounts: [], memory: "", cpus: "",
  };
}

function probeFrom(p: unknown): ProbeRow {
  const o = obj(p);
  if (o.httpGet !== undefined) return { kind: "httpGet", path: str(obj(o.httpGet).path), port: str(obj(o.httpGet).port) };
  if (o.tcpSocket !== undefined) return { kind: "tcpSocket", path: "", port: str(obj(o.tcpSocket).port) };
  return noProbe();
}

/** Reads a manifest into the form model. */
export function fromManifest(m: Manifest): FormModel {
  const meta = obj(m.metadata);
  const c = obj(m.container);
  const rs = obj(m.roomservice);
  const probes = obj(rs.probes);
  const res = obj(rs.resources);
  const env = (Array.isArray(c.environment) ? c.environment : []).map((e): EnvRow => {
    const o = obj(e);
    const row = { ...emptyEnv(), name: str(o.name) };
    if (o.secret !== undefined) return { ...row, kind: "secret", secretId: str(obj(o.secret).id) };
    if (o.token !== undefined) return { ...row, kind: "token", identity: str(obj(o.token).identity), role: str(obj(o.token).role) || "agent" };
    return { ...row, value: str(o.value) };
  });
  return {
    name: str(meta.name),
    description: str(meta.description),
    image: str(c.image),
    command: Array.isArray(c.command) ? c.command.map((a) => (/[\s"'\\]/.test(String(a)) ? JSON.stringify(String(a)) : String(a))).join(" ") : str(c.command),
    enabled: m.enabled !== false,
    env,
    ports: (Array.isArray(m.ports) ? m.ports : []).map((p) => {
      const o = obj(p);
      return { num: str(o.num), type: o.type === "tcp" ? "tcp" : "http", liveness: str(o.liveness) };
    }),
    probes: { startup: probeFrom(probes.startup), readiness: probeFrom(probes.readiness), liveness: probeFrom(probes.liveness) },
    mounts: (Array.isArray(obj(c.storage).room) ? (obj(c.storage).room as unknown[]) : []).map((r) => {
      const o = obj(r);
      return { path: str(o.path), subpath: str(o.subpath), readOnly: o.read_only === true };
    }),
    memory: str(res.memory),
    cpus: str(res.cpus),
  };
}

const numOrText = (s: string): number | string => (/^\d+(\.\d+)?$/.test(s.trim()) ? Number(s.trim()) : s.trim());

function probeTo(p: ProbeRow, base: unknown): Obj | undefined {
  if (p.kind === "none") return undefined;
  const { httpGet: _h, tcpSocket: _t, exec: _e, ...timing } = obj(base);
  const port = p.port.trim() === "" ? {} : { port: numOrText(p.port) };
  return p.kind === "httpGet" ? { ...timing, httpGet: { path: p.path.trim() || "/", ...port } } : { ...timing, tcpSocket: port };
}

/** Drops keys whose value is undefined or an empty object, so the YAML stays minimal. */
function prune(o: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Writes the form over `base` (the manifest being edited): fields the form controls are
 * replaced, everything else (annotations, restart policy, endpoints, …) is kept as it was.
 * Values are passed through as typed; the server validates and names any bad field.
 */
export function toManifest(f: FormModel, base: Manifest = {}): Manifest {
  const c = obj(base.container);
  const rs = obj(base.roomservice);
  const baseProbes = obj(rs.probes);
  const basePorts = Array.isArray(base.ports) ? base.ports.map(obj) : [];
  const environment: EnvVar[] = f.env.filter((e) => e.name.trim() !== "").map((e) => {
    const name = e.name.trim();
    if (e.kind === "secret") return { name, secret: { id: e.secretId.trim() } };
    if (e.kind === "token") return { name, token: { identity: e.identity.trim() || f.name.trim(), role: e.role.trim() || "agent" } };
    return { name, value: e.value };
  });
  // A row with a liveness path but no number is kept, so the server names its missing number
  // (form-errors.ts keptRows uses the same rule to put errors on rows).
  const ports = f.ports.filter((p) => p.num.trim() !== "" || p.liveness.trim() !== "").map((p) => {
    const prev = basePorts.find((b) => String(b.num) === p.num.trim()) ?? {};
    const { liveness: _l, ...rest } = prev;
    return prune({ ...rest, num: numOrText(p.num), type: p.type, liveness: p.liveness.trim() || undefined });
  });
  const mounts = f.mounts.filter((m) => m.path.trim() !== "").map((m) =>
    prune({ path: m.path.trim(), subpath: m.subpath.trim() || undefined, read_only: m.readOnly ? true : undefined }));
  const probes = prune({
    ...baseProbes,
    startup: probeTo(f.probes.startup, baseProbes.startup),
    readiness: probeTo(f.probes.readiness, baseProbes.readiness),
    liveness: probeTo(f.probes.liveness, baseProbes.liveness),
  });
  const resources = prune({ ...obj(rs.resources), memory: f.memory.trim() || undefined, cpus: f.cpus.trim() === "" ? undefined : numOrText(f.cpus) });
  const storage = prune({ ...obj(c.storage), room: mounts.length > 0 ? mounts : undefined });
  const roomservice = prune({ ...rs, probes, resources });
  const { enabled: _en, ...restBase } = base;
  return prune({
    version: "v1",
    kind: "Service",
    ...restBase,
    ...(f.enabled ? {} : { enabled: false }),
    metadata: prune({ ...obj(base.metadata), name: f.name.trim(), description: f.description.trim() || undefined }),
    container: prune({
      ...c,
      image: f.image.trim(),
      command: f.command.trim() || undefined,
      environment: environment.length > 0 ? environment : undefined,
      storage,
    }),
    ports: ports.length > 0 ? ports : undefined,
    roomservice,
  });
}

/**
 * The manifest inside a stored service (GET .../services/{id}): the server's own fields
 * (`id`, `revision`, `room`, timestamps, `warnings`) removed; the manifest's own `version` ("v1") is kept.
 */
export function manifestOfRecord(s: Record<string, unknown>): Manifest {
  const { id: _i, revision: _rev, room: _r, created_at: _c, updated_at: _u, warnings: _w, ...m } = s;
  return { ...m, version: typeof m.version === "string" ? m.version : "v1" };
}
