/**
 * Warnings for fields that are valid MeshAgent but that Roomservice accepts without acting
 * on, and for things it runs differently. A manifest with warnings is still valid: failing it
 * would break "existing manifests work unchanged", and ignoring the fields silently would
 * surprise people who rely on them.
 */
import { analyzeCommand } from "./command.ts";
import { formatPath, type PathSegment } from "./errors.ts";
import type { Manifest } from "./schema/manifest.ts";

export interface LocatedWarning {
  segments: PathSegment[];
  path: string;
  message: string;
}

export function manifestWarnings(m: Manifest): LocatedWarning[] {
  const out: LocatedWarning[] = [];
  const warn = (segments: PathSegment[], message: string) => out.push({ segments, path: formatPath(segments), message });
  const c = m.container;

  if (typeof c.command === "string") {
    const a = analyzeCommand(c.command);
    if (a?.kind === "shell") {
      const signal = a.execLast
        ? `its last command is started with exec, so that program receives the stop signal`
        : `the stop signal goes to every process of the command at once, and the shell may exit (ending the container) before the program finishes its shutdown`;
      warn(
        ["container", "command"],
        `uses ${a.reason}, which only a shell understands, so it runs as /bin/sh -c "…" and the image must contain /bin/sh; ` +
          `${signal}; write the command as a list of arguments to run it without a shell`,
      );
    }
  }

  if (c.run_as != null) warn(["container", "run_as"], "ignored: Roomservice has no service accounts; secrets come from the project and room secret stores");
  if (c.pull_secret != null) warn(["container", "pull_secret"], "ignored: Roomservice runs images already present on the host and never pulls");
  if (c.on_demand === true) warn(["container", "on_demand"], "ignored: Roomservice starts every enabled service with the session");
  if (c.api_key != null) warn(["container", "api_key"], "ignored: a legacy MeshAgent field; use an environment entry with token: to give the service credentials");
  if (c.secrets != null && c.secrets.length > 0) warn(["container", "secrets"], "ignored: a legacy MeshAgent field; reference secrets with environment[].secret");

  const s = c.storage;
  if (s != null) {
    if (s.project != null && s.project.length > 0) warn(["container", "storage", "project"], "ignored: Roomservice has room storage only");
    if (s.volumes != null && s.volumes.length > 0) warn(["container", "storage", "volumes"], "ignored: named room volumes are not supported; use room storage with a subpath");
    if (s.images != null && s.images.length > 0) warn(["container", "storage", "images"], "ignored: image mounts are not supported; copy the files into the service image");
    if (s.configs != null && s.configs.length > 0) warn(["container", "storage", "configs"], "ignored: MeshAgent runtime config files (spec.json, members.json) are not provided");
  }

  m.ports.forEach((p, i) => {
    for (const f of ["host_port", "published", "public"] as const) {
      if (p[f] != null) warn(["ports", i, f], "ignored: service ports are reachable only inside the room");
    }
    if (p.liveness != null && p.type === "tcp") warn(["ports", i, "liveness"], "is an HTTP path but the port's type is tcp; it is checked with HTTP anyway");
  });

  return out;
}
