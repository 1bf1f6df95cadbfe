/**
 * What a service's container is created with, as a pure plan: the Engine API create body and
 * the files its /run/secrets must hold before the command runs. Shared by the ordinary launch
 * (create + start when the session asks) and held containers (docker/prepared.ts: created and
 * started before the session, waiting in the envexec launcher for those files).
 *
 * File mounts are bind mounts of per-session host files (file-mounts.ts) and empty dirs are
 * tmpfs mounts, both in the body; their text is part of specKey, so a held container is only
 * used by a session whose manifest gives the same files.
 *
 * Session-specific values (spec.sessionEnv: tokens, the session id) never go into the create
 * body: they are files the launcher exports, so `docker inspect` does not show them and the
 * body is the same for every session of a configuration — which is what lets a container be
 * made ahead of its session.
 */
import { createHash } from "node:crypto";
import { EMPTY_DIR_SIZE_BYTES, type FileBind } from "../file-mounts.ts";
import { SECRETS_MOUNT } from "../secrets.ts";
import { LaunchFailure } from "../supervisor.ts";
import type { ServiceLaunchSpec } from "../types.ts";
import { DockerError, type DockerEngine } from "./engine.ts";
import { ensureEnvexec, ENVEXEC_MOUNT, HOLD_ENV_VAR, SECRET_ENV_VAR } from "./envexec.ts";

export const LABEL = {
  owner: "dev.roomservice.owner",
  room: "dev.roomservice.room",
  session: "dev.roomservice.session",
  service: "dev.roomservice.service",
  role: "dev.roomservice.role",
  /** On service containers: the room's pause container (the namespace holder) id. */
  pause: "dev.roomservice.pause",
  /** On pooled pause containers and held service containers: the pool entry id (a pooled pause's room label is "" until handed out). */
  pool: "dev.roomservice.pool",
} as const;

/** A writable /tmp even on a read-only root: most runtimes need scratch space. */
const TMP_MOUNT = { "/tmp": "rw,nosuid,nodev,size=64m" };

/**
 * The container's tmpfs mounts: /tmp, and one per empty dir (fresh at every container
 * start, which is every run: a restart is a new container). An empty dir, or any other
 * mount, at /tmp itself replaces the default one (Docker refuses two mounts at one path).
 */
function tmpfsMounts(spec: ServiceLaunchSpec, binds: FileBind[]): Record<string, string> {
  const targets = [...spec.mounts.map((m) => m.containerPath), ...binds.map((b) => b.containerPath)];
  const out: Record<string, string> = targets.includes("/tmp") ? {} : { ...TMP_MOUNT };
  for (const d of spec.emptyDirs ?? []) out[d.containerPath] = `${d.readOnly ? "ro" : "rw"},nosuid,nodev,size=${EMPTY_DIR_SIZE_BYTES},mode=1777`;
  return out;
}
/** Bounded json-file logs: a chatty service must not fill the host's disk. */
const LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "2" } };

/** The parts of an image a plan depends on (GET /images/{name}/json). */
export interface ImageInfo {
  id: string;
  entrypoint: string[];
  cmd: string[];
}

/** Looks an image up by tag; a missing one is a LaunchFailure saying how to build it. */
export async function inspectImage(docker: DockerEngine, image: string): Promise<ImageInfo> {
  try {
    const img = await docker.json<{ Id: string; Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }>({
      method: "GET", path: `/images/${encodeURIComponent(image)}/json`,
    });
    return { id: img.Id, entrypoint: img.Config?.Entrypoint ?? [], cmd: img.Config?.Cmd ?? [] };
  } catch (err) {
    if (err instanceof DockerError && err.status === 404) {
      throw new LaunchFailure(`image ${image} not found on this Docker host (no registry is used): build it with \`roomservice image build <dir> -t ${image}\``);
    }
    throw err;
  }
}

/**
 * Identifies a service configuration as a container sees it: everything of the spec except
 * session values and secret values (secret *names* count: they are in the body); file
 * mounts with their text and empty dirs count. Two specs
 * with the same key and the same image id get identical containers.
 */
export function specKey(spec: ServiceLaunchSpec): string {
  const session = new Set(spec.sessionEnv ?? []);
  const stable = {
    ...spec,
    env: Object.entries(spec.env).filter(([k]) => !session.has(k)).sort(([a], [b]) => a.localeCompare(b)),
    sessionEnv: [...session].sort(),
    secretFiles: Object.keys(spec.secretFiles).sort(),
    secretValues: undefined,
    // Files and their text count (a held container's files are written when it is made).
    fileMounts: spec.fileMounts ?? [],
    emptyDirs: spec.emptyDirs ?? [],
  };
  return createHash("sha256").update(JSON.stringify(stable)).digest("hex");
}

export interface PlanContext {
  ownerId: string;
  room: string;
  /** The session label: the session id, or the prepared entry's id for a held container. */
  sessionLabel: string;
  pauseId: string;
  /** Host directory bind-mounted read-only at /run/secrets. */
  secretsDir: string;
  /** The spec's file mounts as host files (file-mounts.ts), written before the container is created. */
  fileBinds: FileBind[];
  /** Wait in the launcher for the start file (a held container). Needs envexec. */
  hold: boolean;
  /** Extra labels (the pool id of a held container). */
  labels?: Record<string, string>;
}

export interface ContainerPlan {
  body: Record<string, unknown>;
  /** Written (0400) into secretsDir before the command runs: secret files and session values. */
  files: Record<string, string>;
  image: ImageInfo | null;
}

/** The files a held container (always launched through envexec) needs before its command runs. */
export function heldFiles(spec: ServiceLaunchSpec): Record<string, string> {
  const files: Record<string, string> = { ...spec.secretFiles };
  for (const n of spec.sessionEnv ?? []) if (n in spec.env && !(n in spec.secretFiles)) files[n] = spec.env[n]!;
  return files;
}

/** Builds the create body for `spec` (see the module comment for what goes where). */
export async function planContainer(docker: DockerEngine, spec: ServiceLaunchSpec, c: PlanContext): Promise<ContainerPlan> {
  const secretEnv = (spec.secretEnv ?? []).filter((n) => n in spec.secretFiles);
  const sessionEnv = (spec.sessionEnv ?? []).filter((n) => n in spec.env && !(n in spec.secretFiles));
  const needsLauncher = secretEnv.length > 0 || sessionEnv.length > 0 || c.hold;
  const binary = needsLauncher ? await ensureEnvexec() : null;
  if (binary === null && (secretEnv.length > 0 || c.hold)) {
    throw new LaunchFailure("secrets requested as environment variables need the envexec launcher, which could not be compiled (install a C compiler: apt-get install gcc libc6-dev), or set roomservice.secrets.env: false to use /run/secrets files only");
  }
  // Without the launcher (no C compiler) session values stay plain env, as before it existed.
  const viaFiles = binary !== null ? sessionEnv : [];
  const hidden = new Set(viaFiles);
  let image: ImageInfo | null = null;
  let cmd = spec.command;
  if (binary !== null) {
    image = await inspectImage(docker, spec.image);
    cmd = [...image.entrypoint, ...(spec.command ?? image.cmd)];
    if (cmd.length === 0) throw new LaunchFailure(`image ${spec.image} has no entrypoint or command, and the manifest gives no command`);
  }
  const files: Record<string, string> = { ...spec.secretFiles };
  for (const n of viaFiles) files[n] = spec.env[n]!;
  const launcherEnv: Record<string, string> = {};
  if (binary !== null) {
    const names = [...secretEnv, ...viaFiles];
    if (names.length > 0) launcherEnv[SECRET_ENV_VAR] = names.join(",");
    if (c.hold) launcherEnv[HOLD_ENV_VAR] = "1";
  }
  const env = Object.fromEntries(Object.entries(spec.env).filter(([k]) => !hidden.has(k)));
  const r = spec.resources;
  const body = {
    Image: spec.image,
    Cmd: cmd,
    ...(binary !== null ? { Entrypoint: [ENVEXEC_MOUNT] } : {}),
    WorkingDir: spec.workingDir,
    // tini (Init) forwards the stop signal to the command's whole process group, so programs
    // a wrapper forked get it too (manifest commands that need a shell exec their last command).
    Env: Object.entries({ ...env, ...launcherEnv, TINI_KILL_PROCESS_GROUP: "1" }).map(([k, v]) => `${k}=${v}`),
    Labels: {
      [LABEL.owner]: c.ownerId, [LABEL.room]: c.room, [LABEL.session]: c.sessionLabel,
      [LABEL.service]: spec.serviceId, [LABEL.role]: "service", [LABEL.pause]: c.pauseId, ...c.labels,
    },
    StopSignal: spec.stop.signal || "SIGTERM",
    HostConfig: {
      NetworkMode: `container:${c.pauseId}`,
      // tini as PID 1 forwards the stop signal; without it node as PID 1 ignores SIGTERM.
      Init: true,
      ReadonlyRootfs: !spec.writableRootFs,
      Tmpfs: tmpfsMounts(spec, c.fileBinds),
      Mounts: [
        ...spec.mounts.map((m) => ({ Type: "bind", Source: m.hostPath, Target: m.containerPath, ReadOnly: m.readOnly })),
        ...c.fileBinds.map((b) => ({ Type: "bind", Source: b.hostPath, Target: b.containerPath, ReadOnly: b.readOnly })),
        { Type: "bind", Source: c.secretsDir, Target: SECRETS_MOUNT, ReadOnly: true },
        ...(binary !== null ? [{ Type: "bind", Source: binary, Target: ENVEXEC_MOUNT, ReadOnly: true }] : []),
      ],
      Memory: r.memoryBytes,
      // Same as Memory: no swap, so a memory hog is OOM-killed (and reported) instead of thrashing.
      MemorySwap: r.memoryBytes,
      NanoCpus: r.nanoCpus,
      PidsLimit: r.pidsLimit ?? r.pids,
      SecurityOpt: ["no-new-privileges:true"],
      LogConfig: LOG_CONFIG,
    },
  };
  return { body, files, image };
}

/** POST /containers/create with Docker's refusals turned into messages a user can act on. */
export async function createContainer(docker: DockerEngine, name: string, spec: ServiceLaunchSpec, body: Record<string, unknown>): Promise<string> {
  try {
    return (await docker.json<{ Id: string }>({ method: "POST", path: "/containers/create", query: { name }, body })).Id;
  } catch (err) {
    if (err instanceof DockerError && err.status === 404) {
      throw new LaunchFailure(`image ${spec.image} not found on this Docker host (no registry is used): build it with \`roomservice image build <dir> -t ${spec.image}\``);
    }
    if (err instanceof DockerError && err.status === 400) throw new LaunchFailure(`Docker rejected the container config: ${err.message}`);
    throw err;
  }
}
