import { constants as fsc } from "node:fs";
import { open, mkdir, lstat, type FileHandle } from "node:fs/promises";
import { ToolError } from "../toolkits/types.ts";

/**
 * Directory-fd primitives for room storage. Node has no `openat`, but on Linux the magic link
 * `/proc/self/fd/<fd>` names the directory an fd holds (wherever it has been moved to), so
 * `/proc/self/fd/<fd>/<name>` resolves exactly one name inside that held directory. Every
 * call here touches only such single-name paths; with O_NOFOLLOW on the last (and only)
 * component, a symlink planted by a service (`/data/d -> /etc`) is refused by the kernel at
 * the moment of the open, not checked earlier and used later by name.
 *
 * Calls that never follow a final symlink by themselves (mkdir, rename, link, unlink,
 * rmdir, lstat) take these paths as they are; opens add O_NOFOLLOW.
 */

/** Flags for opening a directory component: never a symlink, never blocks on a FIFO. */
export const DIR_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
/** Flags for opening a file to read it: never through a symlink, never blocks on a FIFO. */
export const READ_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

/**
 * Flags for re-opening a held directory through its own magic link (`at(dir, "")`): that
 * link must be followed (it is the kernel's reference to the held directory, not a symlink
 * anyone can plant), so no O_NOFOLLOW here.
 */
const REOPEN_FLAGS = fsc.O_RDONLY | fsc.O_DIRECTORY;

/** `/proc/self/fd/<fd>/<name>`: one name resolved relative to a held directory fd. */
export function at(dir: FileHandle, name: string): string {
  return name === "" ? `/proc/self/fd/${dir.fd}` : `/proc/self/fd/${dir.fd}/${name}`;
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Fails at start-up, with the reason, on a system without /proc fd magic links. */
export async function assertProcFdAvailable(): Promise<void> {
  const probe = await open("/", DIR_FLAGS);
  try {
    await open(at(probe, ""), REOPEN_FLAGS).then((h) => h.close());
  } catch (err) {
    throw new Error(`room storage needs /proc/self/fd (Linux with /proc mounted): ${(err as Error).message}`);
  } finally {
    await probe.close();
  }
}

/**
 * Opens the directory `segments` below `root`, one component at a time, each relative to the
 * fd of its parent, with O_DIRECTORY|O_NOFOLLOW. With `create`, missing components are
 * created (mode 0755). Returns a new handle the caller must close; `root` stays open.
 *
 * Errors (ToolError): 403 when a component is a symlink, 404 when missing (without
 * `create`), 409 when a component is a file. `shown` is the path named in messages.
 */
export async function openDirBelow(root: FileHandle, segments: readonly string[], create: boolean, shown: string): Promise<FileHandle> {
  let cur = await open(at(root, ""), REOPEN_FLAGS);
  try {
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      const prefix = segments.slice(0, i + 1).join("/");
      let next: FileHandle | null = null;
      for (let attempt = 0; next === null; attempt++) {
        try {
          next = await open(at(cur, seg), DIR_FLAGS);
        } catch (err) {
          const code = errnoOf(err);
          if (code === "ENOENT" && create && attempt < 3) {
            // mkdir never follows a symlink in the final component: EEXIST if one appeared.
            await mkdir(at(cur, seg), 0o755).catch((e) => {
              if (errnoOf(e) !== "EEXIST") throw e;
            });
            continue;
          }
          // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (not ELOOP) on Linux: look
          // at what the name is, only to word the error.
          const isLink = code === "ELOOP" || (code === "ENOTDIR" && (await lstat(at(cur, seg)).catch(() => null))?.isSymbolicLink() === true);
          throw componentError(isLink ? "ELOOP" : code, prefix, shown, err);
        }
      }
      await cur.close();
      cur = next;
    }
    return cur;
  } catch (err) {
    await cur.close().catch(() => undefined);
    throw err;
  }
}

function componentError(code: string | undefined, prefix: string, shown: string, err: unknown): unknown {
  if (code === "ELOOP") return new ToolError(`storage: ${JSON.stringify(prefix)} (in ${JSON.stringify(shown)}) is a symlink; storage never follows links`, 403);
  if (code === "ENOTDIR") return new ToolError(`storage: ${JSON.stringify(prefix)} (in ${JSON.stringify(shown)}) is a file, not a folder`, 409);
  if (code === "ENOENT") return new ToolError(`storage: folder ${JSON.stringify(prefix)} (in ${JSON.stringify(shown)}) does not exist`, 404);
  return err;
}

/** fsync of a held directory; some filesystems refuse it, and the rename is atomic anyway. */
export async function syncDir(dir: FileHandle): Promise<void> {
  await dir.sync().catch(() => undefined);
}
