/**
 * File mounts on podman 4.3. kube/manifest.ts gives a Pod's file mounts as a Secret mounted
 * file by file with `subPath`, and copies the writable ones into an emptyDir with an init
 * container (FILES_CONTAINER). Podman 4.3's `kube play` has no `subPath` (4.4 added it) and
 * restarts init containers with the Pod's restart policy, so the podman backend plays the
 * same Pod changed here, after its Secrets became host directories (podman-api.ts):
 * - the copying init container is dropped and its copies are made here, 0666, into
 *   `<the Secret's directory>/rw/`, which takes the emptyDir's place — inside the Secret's
 *   directory, so the copies go with it (deleteSecrets at the Pod's end, reaping after a
 *   crash);
 * - every `subPath` mount of a host directory becomes a hostPath mount of that very file.
 */
import { copyFile, chmod, mkdir } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { V1Container, V1Pod, V1Volume } from "@kubernetes/client-node";
import { dnsLabel, FILES_CONTAINER } from "./manifest.ts";

/** Rewrites `pod` (its Secret volumes already host directories) as described in the module comment. */
export async function playFileMounts(pod: V1Pod, fail: (message: string) => Error): Promise<void> {
  const spec = pod.spec;
  if (spec === undefined) return;
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const init = spec.initContainers?.find((c) => c.name === FILES_CONTAINER);
  if (init !== undefined) {
    spec.initContainers = spec.initContainers!.filter((c) => c !== init);
    if (spec.initContainers.length === 0) delete spec.initContainers;
    await copyLikeInit(init, volumes, fail);
  }
  const extra: V1Volume[] = [];
  for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const m of c.volumeMounts ?? []) {
      if (m.subPath === undefined || m.subPath === "") continue;
      const dir = volumes.get(m.name)?.hostPath?.path;
      if (dir === undefined) throw fail(`container ${c.name}: a subPath mount of volume ${m.name}, which is not a host directory here, cannot be played on podman 4.3`);
      const name = dnsLabel(`${m.name}-${m.subPath}`);
      if (!volumes.has(name)) {
        const v: V1Volume = { name, hostPath: { path: join(dir, m.subPath), type: "File" } };
        volumes.set(name, v);
        extra.push(v);
      }
      m.name = name;
      delete m.subPath;
    }
  }
  spec.volumes = [...(spec.volumes ?? []), ...extra];
}

/** Makes the copies FILES_CONTAINER would make ("<src>=<dst>" arguments after the script). */
async function copyLikeInit(init: V1Container, volumes: Map<string, V1Volume>, fail: (message: string) => Error): Promise<void> {
  const hostDirOf = (path: string): { volume: V1Volume; dir: string } => {
    const mount = init.volumeMounts?.find((m) => m.mountPath === posix.dirname(path));
    const volume = mount === undefined ? undefined : volumes.get(mount.name);
    if (volume === undefined) throw fail(`${FILES_CONTAINER}: no volume is mounted at ${posix.dirname(path)}`);
    return { volume, dir: volume.hostPath?.path ?? "" };
  };
  for (const pair of (init.command ?? []).slice(3)) {
    const i = pair.indexOf("=");
    const src = hostDirOf(pair.slice(0, i));
    const dst = hostDirOf(pair.slice(i + 1));
    if (src.dir === "") throw fail(`${FILES_CONTAINER}: the files of ${pair.slice(0, i)} are not in a host directory`);
    if (dst.volume.emptyDir !== undefined) {
      // The emptyDir becomes <the Secret's directory>/rw.
      const rw = join(src.dir, "rw");
      await mkdir(rw, { recursive: true, mode: 0o700 });
      delete dst.volume.emptyDir;
      dst.volume.hostPath = { path: rw, type: "Directory" };
    }
    const to = join(dst.volume.hostPath!.path, posix.basename(pair.slice(i + 1)));
    await mkdir(dirname(to), { recursive: true, mode: 0o700 });
    await copyFile(join(src.dir, posix.basename(pair.slice(0, i))), to);
    await chmod(to, 0o666);
  }
}
