/**
 * A parsed manifest turned into what a runtime needs: camelCase, every default filled in,
 * durations in milliseconds, sizes in bytes, commands as argv. The runtime reads only this,
 * so MeshAgent's spelling and defaults are decided in one place.
 */
import { analyzeCommand } from "./command.ts";
import { DEFAULT_ROOM_MOUNT, MAX_FILE_TEXT_BYTES, normPath, probePort, roomFilePath } from "./checks.ts";
import { parseCpus, parseQuantity } from "./quantity.ts";
import type { Manifest } from "./schema/manifest.ts";
import { PROBE_DEFAULTS, type Probe } from "./schema/roomservice.ts";

/** Where secret files appear in every container (a read-only tmpfs of 0400 files). */
export const SECRETS_DIR = "/run/secrets";
export { DEFAULT_ROOM_MOUNT, MAX_FILE_TEXT_BYTES };

/** An API scope: grant name → grant options (`{}` = defaults). Aliases folded into `dataset`. */
export type ApiScopeSpec = Record<string, Record<string, unknown>>;

export type NormalizedEnv =
  | { name: string; kind: "value"; value: string }
  /** Mint a participant token at session start. `api` undefined: the role's default grants. */
  | { name: string; kind: "token"; identity: string; role: "user" | "agent" | "tool"; api: ApiScopeSpec | undefined }
  /**
   * Resolve secret `secretId` (optionally one `key` of a JSON secret). Always written to
   * `file`; also set as the variable when `asEnv`.
   */
  | { name: string; kind: "secret"; secretId: string; key: string | undefined; asEnv: boolean; file: string };

export type ProbeAction =
  | { kind: "http"; port: number; path: string; headers: Array<{ name: string; value: string }> }
  | { kind: "tcp"; port: number }
  | { kind: "exec"; command: string[] };

export interface NormalizedProbe {
  action: ProbeAction;
  initialDelayMs: number;
  /** Interval after the first success. */
  periodMs: number;
  /** Interval until the first success. */
  startIntervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface NormalizedMcpEndpoint {
  label: string;
  description: string | undefined;
  allowedTools: Array<{ toolNames: string[] | undefined; readOnly: boolean | undefined }> | undefined;
  headers: Record<string, string>;
  requireApproval: "always" | "never" | undefined;
  oauth: Record<string, unknown> | undefined;
  openaiConnectorId: string | undefined;
  useProxySecret: string | undefined;
}

export interface NormalizedEndpoint {
  path: string;
  mcp: NormalizedMcpEndpoint | undefined;
  meshagent: { identity: string; api: ApiScopeSpec | undefined } | undefined;
  annotations: Record<string, string>;
}

export interface NormalizedPort {
  num: number;
  type: "http" | "tcp";
  /** MeshAgent's `liveness` HTTP path (with a leading /): drives the port's `liveness_status`; never restarts. */
  liveness: string | undefined;
  /** The same check as a probe with the default timings (fast until the first success). */
  livenessProbe: NormalizedProbe | undefined;
  endpoints: NormalizedEndpoint[];
  annotations: Record<string, string>;
}

export interface NormalizedService {
  name: string;
  description: string | undefined;
  annotations: Record<string, string>;
  enabled: boolean;
  image: string;
  /** argv to run instead of the image's default; undefined keeps the image's. */
  command: string[] | undefined;
  /** True when `command` had shell syntax and is therefore `["/bin/sh", "-c", …]`. */
  commandViaShell: boolean;
  workingDir: string | undefined;
  /** MeshAgent's container template: `agent` gets the room mount at /data and the MESHAGENT_* variables. */
  template: "agent" | "none";
  environment: NormalizedEnv[];
  /** Room storage mounts; `implicit` marks the /data mount added by the `agent` template. */
  storageMounts: Array<{ path: string; subpath: string | undefined; readOnly: boolean; implicit: boolean }>;
  /**
   * Files placed in the container (`container.storage.files`). A read-only one cannot be
   * written by the service; a writable one is the container's own copy, starting from `text`.
   */
  fileMounts: Array<{ path: string; text: string; readOnly: boolean }>;
  /** Scratch directories (`container.storage.empty_dirs`), empty when the container starts. */
  emptyDirs: Array<{ path: string; readOnly: boolean }>;
  /**
   * Files to create in room storage when missing (MeshAgent's top-level `files`); `path` is
   * relative to the room's storage root (a leading "/" is dropped). Never overwritten.
   */
  roomFiles: Array<{ path: string; text: string }>;
  ports: NormalizedPort[];
  probes: { startup: NormalizedProbe | undefined; readiness: NormalizedProbe | undefined; liveness: NormalizedProbe | undefined };
  restart: { policy: "always" | "on-failure" | "never"; initialBackoffMs: number; maxBackoffMs: number; resetAfterMs: number };
  stop: { signal: string; gracePeriodMs: number };
  resources: { memoryBytes: number | undefined; nanoCpus: number | undefined; pids: number | undefined };
  writableRootFs: boolean;
  secretsDir: string;
}

const ms = (seconds: number) => Math.round(seconds * 1000);

function normalizeApi(api: Record<string, Record<string, unknown> | null | undefined> | null | undefined): ApiScopeSpec | undefined {
  if (api == null) return undefined;
  const out: ApiScopeSpec = {};
  for (const [name, grant] of Object.entries(api)) {
    if (grant == null) continue; // null / absent: not granted
    out[name === "database" || name === "datasets" ? "dataset" : name] = { ...grant };
  }
  return out;
}

function probeTimings(p: Pick<Probe, "initialDelaySeconds" | "periodSeconds" | "startIntervalSeconds" | "timeoutSeconds" | "failureThreshold" | "successThreshold">) {
  return {
    initialDelayMs: ms(p.initialDelaySeconds),
    periodMs: ms(p.periodSeconds),
    startIntervalMs: ms(p.startIntervalSeconds),
    timeoutMs: ms(p.timeoutSeconds),
    failureThreshold: p.failureThreshold,
    successThreshold: p.successThreshold,
  };
}

const withSlash = (path: string) => (path.startsWith("/") ? path : `/${path}`);

function normalizeProbe(m: Manifest, p: Probe | undefined): NormalizedProbe | undefined {
  if (p === undefined) return undefined;
  let action: ProbeAction;
  if (p.httpGet !== undefined) {
    action = { kind: "http", port: probePort(m, "httpGet", p.httpGet.port)!, path: withSlash(p.httpGet.path), headers: p.httpGet.httpHeaders ?? [] };
  } else if (p.tcpSocket !== undefined) {
    action = { kind: "tcp", port: probePort(m, "tcpSocket", p.tcpSocket.port)! };
  } else {
    action = { kind: "exec", command: p.exec!.command };
  }
  return { action, ...probeTimings(p) };
}

function normalizeSubpath(s: string | null | undefined): string | undefined {
  const t = (s ?? "").replace(/^\/+|\/+$/g, "");
  return t === "" ? undefined : t;
}

/**
 * Turns a manifest from {@link parseManifest} / {@link validateManifestObject} (which has
 * passed every check) into a {@link NormalizedService}.
 *
 * `container.command` given as a string is split into arguments the way a POSIX shell
 * splits words (quotes and backslashes honoured) but **no shell is run**; only a command
 * that uses shell syntax (`&&`, `|`, `$VAR`, …) becomes `["/bin/sh", "-c", command]`, and
 * parsing warned about it.
 */
export function normalizeManifest(m: Manifest): NormalizedService {
  const c = m.container;
  const rs = m.roomservice;

  let command: string[] | undefined;
  let commandViaShell = false;
  if (Array.isArray(c.command)) {
    command = [...c.command];
  } else if (typeof c.command === "string") {
    const a = analyzeCommand(c.command);
    if (a?.kind === "invalid") throw new Error(`container.command: ${a.message}; validate the manifest with parseManifest before normalizing it`);
    command = a?.argv;
    commandViaShell = a?.kind === "shell";
  }

  const fileOnly = new Set(rs.secrets.fileOnly);
  const environment: NormalizedEnv[] = (c.environment ?? []).map((e): NormalizedEnv => {
    if (e.token != null) {
      return { name: e.name, kind: "token", identity: e.token.identity, role: e.token.role ?? "agent", api: normalizeApi(e.token.api) };
    }
    if (e.secret != null) {
      return { name: e.name, kind: "secret", secretId: e.secret.id, key: e.secret.key ?? undefined, asEnv: rs.secrets.env && !fileOnly.has(e.name), file: `${SECRETS_DIR}/${e.name}` };
    }
    return { name: e.name, kind: "value", value: e.value ?? "" };
  });

  const storage = c.storage;
  const storageMounts: NormalizedService["storageMounts"] = (storage?.room ?? []).map((r) => ({
    path: r.path,
    subpath: normalizeSubpath(r.subpath),
    readOnly: r.read_only,
    implicit: false,
  }));
  const fileMounts = (storage?.files ?? []).map((f) => ({ path: normPath(f.path), text: f.text, readOnly: f.read_only }));
  const emptyDirs = (storage?.empty_dirs ?? []).map((d) => ({ path: normPath(d.path), readOnly: d.read_only }));
  const taken = new Set([...storageMounts, ...fileMounts, ...emptyDirs].map((x) => normPath(x.path)));
  if (c.template === "agent" && !taken.has(DEFAULT_ROOM_MOUNT)) {
    storageMounts.push({ path: DEFAULT_ROOM_MOUNT, subpath: undefined, readOnly: false, implicit: true });
  }

  const ports: NormalizedPort[] = m.ports.map((p) => {
    const liveness = p.liveness == null || p.liveness.trim() === "" ? undefined : withSlash(p.liveness.trim());
    return {
      num: p.num,
      type: p.type,
      liveness,
      livenessProbe: liveness === undefined ? undefined : { action: { kind: "http", port: p.num, path: liveness, headers: [] }, ...probeTimings(PROBE_DEFAULTS) },
      endpoints: p.endpoints.map((ep) => ({
        path: withSlash(ep.path),
        mcp:
          ep.mcp == null
            ? undefined
            : {
                label: ep.mcp.label,
                description: ep.mcp.description ?? undefined,
                allowedTools: ep.mcp.allowed_tools?.map((t) => ({ toolNames: t.tool_names ?? undefined, readOnly: t.read_only ?? undefined })) ?? undefined,
                headers: { ...(ep.mcp.headers ?? {}) },
                requireApproval: ep.mcp.require_approval ?? undefined,
                oauth: ep.mcp.oauth == null ? undefined : { ...ep.mcp.oauth },
                openaiConnectorId: ep.mcp.openai_connector_id ?? undefined,
                useProxySecret: ep.mcp.use_proxy_secret ?? undefined,
              },
        meshagent: ep.meshagent == null ? undefined : { identity: ep.meshagent.identity, api: normalizeApi(ep.meshagent.api) },
        annotations: { ...(ep.annotations ?? {}) },
      })),
      annotations: { ...(p.annotations ?? {}) },
    };
  });

  const res = rs.resources;
  return {
    name: m.metadata.name,
    description: m.metadata.description ?? undefined,
    annotations: { ...(m.metadata.annotations ?? {}) },
    enabled: m.enabled,
    image: c.image,
    command,
    commandViaShell,
    workingDir: c.working_dir ?? undefined,
    template: c.template,
    environment,
    storageMounts,
    fileMounts,
    emptyDirs,
    roomFiles: (m.files ?? []).map((f) => ({ path: roomFilePath(f.path), text: f.text })),
    ports,
    probes: {
      startup: normalizeProbe(m, rs.probes.startup),
      readiness: normalizeProbe(m, rs.probes.readiness),
      liveness: normalizeProbe(m, rs.probes.liveness),
    },
    restart: {
      policy: rs.restart.policy,
      initialBackoffMs: ms(rs.restart.initialBackoffSeconds),
      maxBackoffMs: ms(rs.restart.maxBackoffSeconds),
      resetAfterMs: ms(rs.restart.resetAfterSeconds),
    },
    stop: { signal: rs.stop.signal, gracePeriodMs: ms(rs.stop.gracePeriodSeconds) },
    resources: {
      memoryBytes: res.memory === undefined ? undefined : parseQuantity(res.memory),
      nanoCpus: res.cpus === undefined ? undefined : Math.round(parseCpus(res.cpus) * 1e9),
      pids: res.pids,
    },
    // MeshAgent's flag exists to opt *in* to writes, so the root filesystem is read-only unless asked
    writableRootFs: c.writable_root_fs ?? false,
    secretsDir: SECRETS_DIR,
  };
}
