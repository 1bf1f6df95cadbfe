/**
 * Checks that need more than one field at a time. They run after the structure is valid, so
 * they can rely on types and defaults.
 */
import { analyzeCommand } from "./command.ts";
import { formatPath, type LocatedError, type PathSegment } from "./errors.ts";
import type { Manifest } from "./schema/manifest.ts";

const SECRETS_DIR = "/run/secrets";
/** Where the `agent` container template mounts room storage, as MeshAgent does. */
export const DEFAULT_ROOM_MOUNT = "/data";
/** Where the runtimes put their own launcher (docker/envexec.ts ENVEXEC_MOUNT's folder). */
const LAUNCHER_DIR = "/run/roomservice";
/** Kernel filesystems every container has; a mount there would break the container. */
const SYSTEM_DIRS = ["/proc", "/sys", "/dev"];

/**
 * The most text `container.storage.files` and `files` may carry together, in UTF-8 bytes:
 * it is stored with every version of the manifest, written at every start (a Pod's Secret
 * holds the file mounts, and Kubernetes caps a Secret at 1 MiB), and meant for config files.
 */
export const MAX_FILE_TEXT_BYTES = 256 * 1024;
/** At most this many entries in each of `container.storage.files`, `empty_dirs` and `files`. */
export const MAX_FILE_ENTRIES = 64;

function err(segments: PathSegment[], message: string, expected: string, received: string): LocatedError {
  return { segments, path: formatPath(segments), message, expected, received };
}

/** The port a probe check targets: its own, or the first suitable declared port. */
export function probePort(m: Manifest, check: "httpGet" | "tcpSocket", given: number | undefined): number | undefined {
  if (given !== undefined) return given;
  const p = check === "httpGet" ? m.ports.find((x) => x.type === "http") : m.ports[0];
  return p?.num;
}

export function crossFieldErrors(m: Manifest): LocatedError[] {
  const out: LocatedError[] = [];
  const env = m.container.environment ?? [];

  // Two entries with one name: which wins would depend on the runtime, so refuse.
  const firstByName = new Map<string, number>();
  env.forEach((e, i) => {
    const first = firstByName.get(e.name);
    if (first === undefined) firstByName.set(e.name, i);
    else out.push(err(["container", "environment", i, "name"], `duplicates container.environment[${first}]`, "each variable name once", JSON.stringify(e.name)));
  });

  const firstByPort = new Map<number, number>();
  m.ports.forEach((p, i) => {
    const first = firstByPort.get(p.num);
    if (first === undefined) firstByPort.set(p.num, i);
    else out.push(err(["ports", i, "num"], `duplicates ports[${first}]`, "each port once", String(p.num)));
  });

  if (typeof m.container.command === "string") {
    const a = analyzeCommand(m.container.command);
    if (a?.kind === "invalid") out.push(err(["container", "command"], a.message, "a command line with balanced quotes", "an unbalanced command line"));
  }

  out.push(...mountErrors(m), ...fileErrors(m));

  const rs = m.roomservice;
  const secretNames = new Set(env.filter((e) => e.secret != null).map((e) => e.name));
  rs.secrets.fileOnly.forEach((name, i) => {
    if (!secretNames.has(name)) {
      out.push(
        err(
          ["roomservice", "secrets", "fileOnly", i],
          "does not name a secret variable in container.environment",
          secretNames.size === 0 ? "the name of an environment entry with secret: (there are none)" : `one of ${[...secretNames].join(", ")}`,
          JSON.stringify(name),
        ),
      );
    }
  });

  for (const kind of ["startup", "readiness", "liveness"] as const) {
    const p = rs.probes[kind];
    if (p === undefined) continue;
    const at: PathSegment[] = ["roomservice", "probes", kind];
    // As in Kubernetes: a startup or liveness probe either passes or restarts the service.
    if (kind !== "readiness" && p.successThreshold !== 1) {
      out.push(err([...at, "successThreshold"], `must be 1 for a ${kind} probe`, "1", String(p.successThreshold)));
    }
    if (p.httpGet !== undefined && probePort(m, "httpGet", p.httpGet.port) === undefined) {
      out.push(err([...at, "httpGet", "port"], "required: there is no http port in ports to default to", "a port number, or an http port in ports", "nothing"));
    }
    if (p.tcpSocket !== undefined && probePort(m, "tcpSocket", p.tcpSocket.port) === undefined) {
      out.push(err([...at, "tcpSocket", "port"], "required: there is no port in ports to default to", "a port number, or a port in ports", "nothing"));
    }
  }
  return out;
}

/** `/a//b/./c/` → `/a/b/c`; "/" stays "/". Mount paths are compared (and launched) in this form. */
export function normPath(p: string): string {
  // ".." never gets here: containerPath refuses it.
  return `/${p.split("/").filter((s) => s !== "" && s !== ".").join("/")}`;
}

/** Whether `inner` is `outer` itself or below it (both normalized). */
function within(inner: string, outer: string): boolean {
  return inner === outer || outer === "/" || inner.startsWith(`${outer}/`);
}

/**
 * Mount paths: none may hide /run/secrets, the launcher or the kernel's filesystems; no two
 * may share a path; nothing may be mounted inside a file mount (a file has no entries), and
 * a file mount or empty dir may not sit inside a room storage mount — the runtime would have
 * to create its mount point in room storage (an empty placeholder file or folder left in
 * the room's files, hiding whatever the room keeps at that path).
 */
function mountErrors(m: Manifest): LocatedError[] {
  const out: LocatedError[] = [];
  type Mount = { path: string; norm: string; kind: "room" | "project" | "volumes" | "images" | "files" | "empty_dirs"; at: PathSegment[] };
  const mounts: Mount[] = [];
  const storage = m.container.storage;
  for (const kind of ["room", "project", "volumes", "images", "files", "empty_dirs"] as const) {
    (storage?.[kind] ?? []).forEach((x, i) => mounts.push({ path: x.path, norm: normPath(x.path), kind, at: ["container", "storage", kind, i, "path"] }));
  }
  const where = (x: Mount) => formatPath(x.at.slice(0, -1));
  const seen = new Map<string, Mount>();
  for (const mnt of mounts) {
    const norm = mnt.norm;
    if (norm === "/" || within(norm, SECRETS_DIR) || SECRETS_DIR.startsWith(`${norm}/`)) {
      // Mounting over /run/secrets would hide the secret files Roomservice puts there.
      out.push(err(mnt.at, `would hide the secret files Roomservice writes to ${SECRETS_DIR}`, `a path outside ${SECRETS_DIR} and not "/"`, JSON.stringify(mnt.path)));
      continue;
    }
    if (within(norm, LAUNCHER_DIR) || LAUNCHER_DIR.startsWith(`${norm}/`)) {
      out.push(err(mnt.at, `would hide the launcher Roomservice mounts at ${LAUNCHER_DIR}`, `a path outside ${LAUNCHER_DIR}`, JSON.stringify(mnt.path)));
      continue;
    }
    const system = SYSTEM_DIRS.find((d) => within(norm, d));
    if (system !== undefined && (mnt.kind === "files" || mnt.kind === "empty_dirs")) {
      out.push(err(mnt.at, `is inside ${system}, which the container's kernel filesystems occupy`, `a path outside ${SYSTEM_DIRS.join(", ")}`, JSON.stringify(mnt.path)));
      continue;
    }
    if ((mnt.kind === "files" || mnt.kind === "empty_dirs") && /[\u0000-\u001f\u007f]/.test(mnt.path)) {
      out.push(err(mnt.at, "must not contain control characters", "a path such as \"/etc/app/config.yaml\"", JSON.stringify(mnt.path)));
      continue;
    }
    if (mnt.kind === "files" && /\/$/.test(mnt.path)) {
      out.push(err(mnt.at, "ends with \"/\": a file mount needs a file name", 'a file path such as "/etc/app/config.yaml"', JSON.stringify(mnt.path)));
      continue;
    }
    const prev = seen.get(norm);
    if (prev !== undefined) {
      out.push(err(mnt.at, `is already mounted by ${where(prev)}`, "each mount path once", JSON.stringify(mnt.path)));
      continue;
    }
    seen.set(norm, mnt);
  }
  const valid = [...seen.values()];
  // The agent template's implicit room mount counts like a declared one.
  const rooms = valid.filter((x) => x.kind === "room").map((x) => ({ norm: x.norm, what: where(x) }));
  if (m.container.template === "agent" && !seen.has(DEFAULT_ROOM_MOUNT)) rooms.push({ norm: DEFAULT_ROOM_MOUNT, what: `the room storage mount at ${DEFAULT_ROOM_MOUNT} (container.template: agent adds it)` });
  for (const mnt of valid) {
    const file = valid.find((f) => f.kind === "files" && f !== mnt && within(mnt.norm, f.norm));
    if (file !== undefined) {
      out.push(err(mnt.at, `is inside the file mounted by ${where(file)}`, "a path outside every file mount", JSON.stringify(mnt.path)));
      continue;
    }
    // Its mount point would have to be made in a directory that is read-only from the start.
    const roDir = valid.find((d) => d.kind === "empty_dirs" && d !== mnt && (storage?.empty_dirs?.[d.at[3] as number]?.read_only ?? false) && within(mnt.norm, d.norm));
    if (roDir !== undefined) {
      out.push(err(mnt.at, `is inside the read-only empty dir ${where(roDir)}, where no mount point can be made`, "a path outside every read-only empty dir", JSON.stringify(mnt.path)));
      continue;
    }
    if (mnt.kind !== "files" && mnt.kind !== "empty_dirs") continue;
    const room = rooms.find((r) => r.norm !== mnt.norm && within(mnt.norm, r.norm));
    if (room !== undefined) {
      out.push(err(
        mnt.at,
        `is inside ${room.what}: its mount point would be created in the room's files; use the top-level files: to put a file into room storage, or choose a path outside ${room.norm}`,
        `a path outside ${room.norm}`, JSON.stringify(mnt.path),
      ));
    }
  }
  return out;
}

/**
 * Text size and count of file mounts and room files, and room files that collide (the same
 * path twice, or one inside another, which would have to be both a file and a folder).
 */
function fileErrors(m: Manifest): LocatedError[] {
  const out: LocatedError[] = [];
  const lists: Array<{ at: PathSegment[]; items: Array<{ text: string }> }> = [
    { at: ["container", "storage", "files"], items: m.container.storage?.files ?? [] },
    { at: ["files"], items: m.files ?? [] },
  ];
  for (const { at, items } of lists) {
    if (items.length > MAX_FILE_ENTRIES) out.push(err(at, `has ${items.length} entries`, `at most ${MAX_FILE_ENTRIES}`, `${items.length} entries`));
  }
  const dirs = m.container.storage?.empty_dirs ?? [];
  if (dirs.length > MAX_FILE_ENTRIES) out.push(err(["container", "storage", "empty_dirs"], `has ${dirs.length} entries`, `at most ${MAX_FILE_ENTRIES}`, `${dirs.length} entries`));

  // Reported at the entry that crosses the bound, so the message points at a line to shorten.
  let total = 0;
  let reported = false;
  for (const { at, items } of lists) {
    items.forEach((f, i) => {
      total += Buffer.byteLength(f.text, "utf8");
      if (total > MAX_FILE_TEXT_BYTES && !reported) {
        reported = true;
        const sum = lists.reduce((n, l) => n + l.items.reduce((k, x) => k + Buffer.byteLength(x.text, "utf8"), 0), 0);
        out.push(err(
          [...at, i, "text"],
          `brings the text of container.storage.files and files to more than ${MAX_FILE_TEXT_BYTES} bytes (they are stored with the manifest and written at every start; put large files into the image or room storage)`,
          `at most ${MAX_FILE_TEXT_BYTES} bytes of text in container.storage.files[].text and files[].text together`,
          `${sum} bytes`,
        ));
      }
    });
  }

  const roomFiles = (m.files ?? []).map((f, i) => ({ rel: roomFilePath(f.path), at: ["files", i, "path"] as PathSegment[], path: f.path }));
  // The rules RoomStorage applies (server storage/paths.ts), caught here rather than at a session.
  for (const f of roomFiles) {
    const long = f.rel.split("/").find((seg) => Buffer.byteLength(seg, "utf8") > 255);
    if (long !== undefined) out.push(err(f.at, `has a name of ${Buffer.byteLength(long, "utf8")} bytes`, "names of at most 255 UTF-8 bytes", JSON.stringify(f.path)));
    else if (!f.path.isWellFormed()) out.push(err(f.at, "contains a lone UTF-16 surrogate, which has no UTF-8 form", "a path of well-formed Unicode", JSON.stringify(f.path)));
  }
  const byPath = new Map<string, PathSegment[]>();
  for (const f of roomFiles) {
    const prev = byPath.get(f.rel);
    if (prev !== undefined) out.push(err(f.at, `duplicates ${formatPath(prev.slice(0, -1))}`, "each room file path once", JSON.stringify(f.path)));
    else byPath.set(f.rel, f.at);
  }
  for (const f of roomFiles) {
    const outer = roomFiles.find((o) => o !== f && f.rel.startsWith(`${o.rel}/`));
    if (outer !== undefined) out.push(err(f.at, `is inside ${formatPath(outer.at.slice(0, -1))} (${JSON.stringify(outer.path)}), which is a file`, "a path that is not inside another room file", JSON.stringify(f.path)));
  }
  return out;
}

/** A room file's path relative to the room's storage root ("/notes/a.md" → "notes/a.md"). */
export function roomFilePath(path: string): string {
  return path.replace(/^\/+/, "");
}
