/**
 * Checks that need more than one field at a time. They run after the structure is valid, so
 * they can rely on types and defaults.
 */
import { analyzeCommand } from "./command.ts";
import { formatPath, type LocatedError, type PathSegment } from "./errors.ts";
import type { Manifest } from "./schema/manifest.ts";

const SECRETS_DIR = "/run/secrets";

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

  // Mounting over /run/secrets would hide the secret files Roomservice puts there.
  const mounts: Array<{ path: string; at: PathSegment[] }> = [];
  const storage = m.container.storage;
  for (const kind of ["room", "project", "volumes", "images", "files", "empty_dirs"] as const) {
    (storage?.[kind] ?? []).forEach((x, i) => mounts.push({ path: x.path, at: ["container", "storage", kind, i, "path"] }));
  }
  const seenMount = new Map<string, string>();
  for (const mnt of mounts) {
    const norm = mnt.path.replace(/\/+$/, "") || "/";
    if (norm === SECRETS_DIR || norm.startsWith(`${SECRETS_DIR}/`) || SECRETS_DIR.startsWith(`${norm}/`) || norm === "/") {
      out.push(err(mnt.at, `would hide the secret files Roomservice writes to ${SECRETS_DIR}`, `a path outside ${SECRETS_DIR} and not "/"`, JSON.stringify(mnt.path)));
    }
    const prev = seenMount.get(norm);
    if (prev !== undefined) out.push(err(mnt.at, `is already mounted by ${prev}`, "each mount path once", JSON.stringify(mnt.path)));
    else seenMount.set(norm, formatPath(mnt.at.slice(0, -1)));
  }

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
