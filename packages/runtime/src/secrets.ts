/**
 * Per-service secret files on tmpfs: <root>/<owner>/<session>/<service>/<NAME>, mode 0400,
 * bind-mounted read-only at /run/secrets; beside them the files of the services' file mounts
 * (<root>/<owner>/<session>/.files/<service>/, file-mounts.ts). Keeping secrets out of env
 * keeps them out of `docker inspect`; keeping them on tmpfs keeps them off disk. The
 * owner/session directory layout is the files' "label": reapOrphans deletes what a dead run
 * of the same owner left.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SECRETS_MOUNT = "/run/secrets";

/** /dev/shm is tmpfs on every mainstream Linux; elsewhere fall back (and say so in the README). */
export function defaultSecretsRoot(): string {
  return existsSync("/dev/shm") ? "/dev/shm/roomservice" : join(tmpdir(), "roomservice-secrets");
}

/** A path/label-safe form of an arbitrary id: readable when possible, hashed when not. */
export function safeName(s: string, max = 48): string {
  const clean = s.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[._-]+/, "");
  if (clean === s && clean.length > 0 && clean.length <= max) return clean;
  const hash = createHash("sha256").update(s).digest("hex").slice(0, 8);
  return `${clean.slice(0, max - 9) || "x"}-${hash}`;
}

const SECRET_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export class SessionSecrets {
  readonly dir: string;

  constructor(root: string, owner: string, session: string) {
    this.dir = join(root, safeName(owner), safeName(session));
  }

  /** The directory a service's files live in (and that is bind-mounted at /run/secrets). */
  serviceDir(serviceId: string): string {
    return join(this.dir, safeName(serviceId));
  }

  /**
   * Where a service's file mounts live (file-mounts.ts): beside its secrets dir, never inside
   * it (that is the container's /run/secrets). safeName never starts with ".", so no service
   * dir can be named ".files".
   */
  filesDir(serviceId: string): string {
    return join(this.dir, ".files", safeName(serviceId));
  }

  /**
   * Writes files into a service's existing directory without replacing it (a running
   * container has it bind-mounted: a new directory would not be seen). Each file is written
   * under a temporary name and renamed, so a reader never sees half a value; `start`, if
   * given, is created last (the held container's launcher waits for it).
   */
  async fill(serviceId: string, files: Record<string, string>, o: { start?: string } = {}): Promise<void> {
    const dir = this.serviceDir(serviceId);
    await chmod(dir, 0o700);
    for (const [name, value] of Object.entries(files)) {
      if (!SECRET_NAME.test(name)) {
        throw new Error(`secret file name ${JSON.stringify(name)} is not allowed: use letters, digits, "_", "." and "-" (it becomes /run/secrets/NAME)`);
      }
      await writeFile(join(dir, `.${name}.tmp`), value, { mode: 0o400 });
      await rename(join(dir, `.${name}.tmp`), join(dir, name));
    }
    if (o.start !== undefined) await writeFile(join(dir, o.start), "", { mode: 0o400 });
    await chmod(dir, 0o500);
  }

  /** (Re)writes a service's secret files; returns the directory to mount. */
  async write(serviceId: string, files: Record<string, string>): Promise<string> {
    const dir = join(this.dir, safeName(serviceId));
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const [name, value] of Object.entries(files)) {
      if (!SECRET_NAME.test(name)) {
        throw new Error(`secret file name ${JSON.stringify(name)} is not allowed: use letters, digits, "_", "." and "-" (it becomes /run/secrets/NAME)`);
      }
      await writeFile(join(dir, name), value, { mode: 0o400 });
    }
    // Read-only for the owner only: services run as root in their container and read it there.
    await chmod(dir, 0o500);
    return dir;
  }

  /** Removes a service's secret files and its file mounts' files. */
  async release(serviceId: string): Promise<void> {
    await rm(join(this.dir, safeName(serviceId)), { recursive: true, force: true });
    await rm(this.filesDir(serviceId), { recursive: true, force: true });
  }

  async removeAll(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) if (e.isFile()) n++;
  return n;
}

/**
 * Deletes session directories of `owner` (all owners when undefined) except live ones;
 * returns how many secret files went with them.
 */
export async function reapSecretDirs(root: string, owner: string | undefined, live: ReadonlySet<string>): Promise<number> {
  const owners = owner !== undefined ? [safeName(owner)] : await readdir(root).catch(() => []);
  let files = 0;
  for (const o of owners) {
    const odir = join(root, o);
    for (const s of await readdir(odir).catch(() => [])) {
      if (live.has(join(odir, s))) continue;
      files += await countFiles(join(odir, s));
      await rm(join(odir, s), { recursive: true, force: true });
    }
    await rmdir(odir).catch(() => {}); // only when empty: a live session keeps it
  }
  return files;
}

/**
 * Removes this installation's (now empty) directory under the secrets root, and the root
 * itself when no other installation uses it. rmdir only: anything still inside stays.
 */
export async function removeEmptySecretDirs(root: string, owner: string): Promise<void> {
  await rmdir(join(root, safeName(owner))).catch(() => {});
  await rmdir(root).catch(() => {});
}
