/**
 * MeshAgent's `container.storage.files` and `empty_dirs` on the host side, for the runtimes
 * that bind-mount host files (docker, sandbox; Pods carry them in a Secret, kube/manifest.ts).
 *
 * A file mount's text is written to <session dir>/.files/<service>/f<i> (SessionSecrets.
 * filesDir: on the secrets tmpfs, beside the session's secret files), so it goes with the
 * service (`release`), with the session (`removeAll`), and after a crash with the session's
 * directory (`reapSecretDirs`). Read-only files are 0444 and mounted read-only: root in the
 * container cannot write through a read-only bind mount. Writable ones are 0666 (the service
 * may run as any user) and rewritten before every container start, so each run starts from
 * the manifest's text; the directory itself stays 0700, so other host users cannot reach them.
 * What a service writes into a writable one is host memory (tmpfs) charged to the writer's
 * memory cgroup: under Docker the service's memory limit bounds it (an OOM kill past it,
 * checked by hand), under the sandbox runtime, which sets no limits, nothing does.
 */
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SessionSecrets } from "./secrets.ts";
import type { ServiceLaunchSpec } from "./types.ts";

/**
 * The size bound of every empty dir (tmpfs under docker and sandbox, `sizeLimit` of a Pod's
 * emptyDir): memory-backed like /tmp, and charged to the service's memory limit under Docker.
 */
export const EMPTY_DIR_SIZE_BYTES = 256 * 1024 * 1024;

/** A file mount as a bind mount: the host file and where it appears. */
export interface FileBind {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

/** Host paths of `spec`'s file mounts, in order (what writeFileMounts writes). */
export function fileMountBinds(secrets: SessionSecrets, spec: ServiceLaunchSpec): FileBind[] {
  const dir = secrets.filesDir(spec.serviceId);
  return (spec.fileMounts ?? []).map((f, i) => ({ hostPath: join(dir, `f${i}`), containerPath: f.containerPath, readOnly: f.readOnly }));
}

/**
 * (Re)writes `spec`'s file mounts from their text, replacing what an earlier run of the
 * service left (a writable file it changed); returns the binds. Call before creating the
 * container: Docker and bubblewrap need the source to exist.
 */
export async function writeFileMounts(secrets: SessionSecrets, spec: ServiceLaunchSpec): Promise<FileBind[]> {
  const dir = secrets.filesDir(spec.serviceId);
  await rm(dir, { recursive: true, force: true });
  const binds = fileMountBinds(secrets, spec);
  if (binds.length === 0) return binds;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [i, b] of binds.entries()) {
    const mode = b.readOnly ? 0o444 : 0o666;
    await writeFile(b.hostPath, spec.fileMounts![i]!.text, { mode });
    await chmod(b.hostPath, mode); // the umask narrowed writeFile's mode
  }
  return binds;
}
