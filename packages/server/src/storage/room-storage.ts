import { randomUUID } from "node:crypto";
import { constants as fsc, type Stats } from "node:fs";
import { mkdir, open, rename, rm, lstat, readdir, unlink, link, rmdir, stat as statPath, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { ToolError } from "../toolkits/types.ts";
import { at, DIR_FLAGS, READ_FLAGS, errnoOf, openDirBelow, syncDir } from "./dir-fd.ts";
import { normalizeStoragePath } from "./paths.ts";
import { ApiChangeLog } from "./api-changes.ts";

export interface StorageEntryJson {
  name: string;
  is_folder: boolean;
  size: number | null;
  created_at: string | null;
  updated_at: string | null;
}

/** A file opened for reading: the caller reads from `fh` and must close it. */
export interface OpenedFile {
  fh: FileHandle;
  /** Size in bytes at open time. */
  size: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * One room's files on disk — THE safe API for anything that touches room storage (the
 * storage toolkit, the download URL route, service mounts, sync documents).
 *
 * `<roomDir>/storage` holds the tree (bind-mounted into the room's services as `/data`, so
 * they can plant symlinks at any moment); `<roomDir>/.tmp` holds uploads in progress and is
 * never visible to services.
 *
 * Paths are room-relative POSIX paths ("docs/a.txt", "" for the root); pass them through
 * `normalizeStoragePath` (storage/paths.ts) first — the methods here normalize again and
 * refuse `..`, absolute paths and ill-formed Unicode. Names are byte-exact: no Unicode
 * normalization (README "Storage names").
 *
 * Every operation opens each path component relative to the fd of its parent with
 * O_NOFOLLOW|O_DIRECTORY (storage/dir-fd.ts) and then acts on one name inside the held
 * directory, so no symlink anywhere in a path is ever followed, whatever a service swaps in
 * meanwhile. Symlinks are invisible to list/stat; opening through one is refused (403).
 *
 * Errors are ToolErrors with an HTTP-like code: 400 bad path, 403 symlink, 404 missing,
 * 409 conflict (exists, is a folder/file, not empty).
 */
export class RoomStorage {
  /** Host path of the storage tree (for diagnostics and mounts; never opened by name). */
  readonly root: string;
  readonly tmpDir: string;
  /** The API's own changes, so the mount watcher (mount-events.ts) does not announce them twice. */
  readonly apiChanges = new ApiChangeLog();

  /**
   * Called before every change is committed (place, delete, move, new folder); throws when
   * this process may no longer write the room — in a cluster, when its lease on the room is
   * no longer valid here (the fencing check; cluster/router.ts, docs/scaling.md).
   */
  private readonly fence: () => void;

  constructor(roomDir: string, fence: () => void = () => undefined) {
    this.root = join(roomDir, "storage");
    this.tmpDir = join(roomDir, ".tmp");
    this.fence = fence;
  }

  /**
   * The storage root, held open. Its own path is server-owned (services see only inside).
   * Created only by writes: reading a room that never stored anything creates nothing.
   */
  private async openRoot(create: boolean): Promise<FileHandle> {
    try {
      return await open(this.root, DIR_FLAGS);
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw err;
      if (!create) throw new ToolError("storage: this room has no files yet", 404);
      await mkdir(this.root, { recursive: true });
      return await open(this.root, DIR_FLAGS);
    }
  }

  /** Opens the folder `segments` (relative to the root). Caller closes it. */
  private async openDir(segments: readonly string[], create: boolean, shown: string): Promise<FileHandle> {
    const root = await this.openRoot(create);
    try {
      return await openDirBelow(root, segments, create, shown);
    } finally {
      await root.close();
    }
  }

  /** Runs `fn` with the held parent folder of `rel` and the final name. */
  private async inParent<T>(rel: string, create: boolean, fn: (dir: FileHandle, name: string) => Promise<T>): Promise<T> {
    const segs = split(rel);
    const name = segs.pop();
    if (name === undefined) throw new ToolError("storage: this operation needs a path below the storage root", 400);
    const dir = await this.openDir(segs, create, rel);
    try {
      return await fn(dir, name);
    } finally {
      await dir.close();
    }
  }

  private static entry(name: string, st: Stats): StorageEntryJson {
    const folder = st.isDirectory();
    return { name, is_folder: folder, size: folder ? null : st.size, created_at: st.birthtime.toISOString(), updated_at: st.mtime.toISOString() };
  }

  /** Entries of a folder, sorted by name; symlinks, special files and non-UTF-8 names are left out. */
  async list(rel: string): Promise<StorageEntryJson[]> {
    rel = norm(rel, true);
    let dir: FileHandle;
    try {
      dir = await this.openDir(split(rel), false, rel);
    } catch (err) {
      if (rel === "" && err instanceof ToolError && err.code === 404) return []; // nothing stored yet
      throw err;
    }
    try {
      const raw = await readdir(at(dir, ""), { encoding: "buffer" });
      const out: StorageEntryJson[] = [];
      for (const b of raw) {
        let name: string;
        try {
          name = utf8.decode(b);
        } catch {
          continue; // not addressable through the API (names are UTF-8 strings)
        }
        const st = await lstat(at(dir, name)).catch(() => null); // null: vanished meanwhile
        if (st === null || !(st.isFile() || st.isDirectory())) continue;
        out.push(RoomStorage.entry(name, st));
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } finally {
      await dir.close();
    }
  }

  /** The entry at `rel`, or null when it does not exist (or is a symlink / special file). */
  async stat(rel: string): Promise<StorageEntryJson | null> {
    rel = norm(rel, true);
    try {
      if (rel === "") {
        const root = await this.openRoot(true); // the root always "exists" for the API
        try {
          return RoomStorage.entry("", await root.stat());
        } finally {
          await root.close();
        }
      }
      return await this.inParent(rel, false, async (dir, name) => {
        const st = await lstat(at(dir, name)).catch((e) => (errnoOf(e) === "ENOENT" ? null : Promise.reject(e)));
        return st === null || !(st.isFile() || st.isDirectory()) ? null : RoomStorage.entry(name, st);
      });
    } catch (err) {
      if (err instanceof ToolError && (err.code === 404 || err.code === 403 || err.code === 409)) return null;
      throw err;
    }
  }

  /** Creates the folder `rel` and its parents (no-op when it exists). */
  async ensureFolder(rel: string): Promise<void> {
    rel = norm(rel, true);
    await (await this.openDir(split(rel), true, rel)).close();
  }

  /**
   * Host path of folder `rel` for a bind mount, created if missing. Docker resolves the path
   * itself, so after creating it through held fds we check that the path names the very
   * directory we hold (same device and inode); a service would have to swap a component in
   * the instant between this check and the container's creation.
   */
  async mountSource(rel: string): Promise<string> {
    rel = norm(rel, true);
    const dir = await this.openDir(split(rel), true, rel);
    try {
      const held = await dir.stat();
      const host = rel === "" ? this.root : join(this.root, rel);
      const byName = await statPath(host);
      if (byName.dev !== held.dev || byName.ino !== held.ino) {
        throw new ToolError(`storage: ${JSON.stringify(rel)} changed while being prepared as a mount (a symlink in its path?)`, 403);
      }
      return host;
    } finally {
      await dir.close();
    }
  }

  /**
   * Opens an upload: data goes to a temp file until `commit()`. With `overwrite` false the
   * commit fails with 409 if the target exists by then (checked atomically, see Upload).
   */
  async beginUpload(rel: string, overwrite: boolean): Promise<Upload> {
    rel = norm(rel, false);
    if (!overwrite && (await this.stat(rel)) !== null) throw exists409(rel); // early answer; commit re-checks atomically
    await mkdir(this.tmpDir, { recursive: true });
    const tmpDir = await open(this.tmpDir, DIR_FLAGS);
    const tmpName = `${randomUUID()}.part`;
    try {
      const fh = await open(at(tmpDir, tmpName), fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY | fsc.O_NOFOLLOW, 0o644);
      return new Upload(this, rel, tmpDir, tmpName, fh, overwrite);
    } catch (err) {
      await tmpDir.close();
      throw err;
    }
  }

  /**
   * Used by Upload.commit: moves the temp file to `rel`. Overwrite: rename (atomic replace).
   * No overwrite: link then unlink — link(2) fails with EEXIST if the name exists, so of any
   * number of concurrent no-overwrite uploads exactly one wins.
   */
  async place(rel: string, tmpDir: FileHandle, tmpName: string, overwrite: boolean): Promise<void> {
    await this.inParent(rel, true, async (dir, name) => {
      this.fence();
      try {
        if (overwrite) await rename(at(tmpDir, tmpName), at(dir, name));
        else {
          await link(at(tmpDir, tmpName), at(dir, name));
          await unlink(at(tmpDir, tmpName));
        }
      } catch (err) {
        const code = errnoOf(err);
        if (code === "EEXIST") throw exists409(rel);
        if (code === "EISDIR" || code === "ENOTEMPTY") throw new ToolError(`storage: ${JSON.stringify(rel)} is a folder`, 409);
        throw err;
      }
      await syncDir(dir);
      const placed = await lstat(at(dir, name)).catch(() => null);
      if (placed?.isFile()) this.apiChanges.wrote(rel, placed);
    });
  }

  /** Opens a regular file for reading (never through a symlink). Caller closes `fh`. */
  async openRead(rel: string): Promise<OpenedFile> {
    rel = norm(rel, false);
    return await this.inParent(rel, false, async (dir, name) => {
      let fh: FileHandle;
      try {
        fh = await open(at(dir, name), READ_FLAGS);
      } catch (err) {
        const code = errnoOf(err);
        if (code === "ENOENT") throw new ToolError(`storage: file ${JSON.stringify(rel)} does not exist`, 404);
        if (code === "ELOOP") throw new ToolError(`storage: ${JSON.stringify(rel)} is a symlink; storage never follows links`, 403);
        throw err;
      }
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        throw new ToolError(`storage: ${JSON.stringify(rel)} is ${st.isDirectory() ? "a folder" : "not a regular file"}`, 400);
      }
      return { fh, size: st.size };
    });
  }

  /** Whole content of a small file (e.g. a sync document). 413 beyond `maxBytes`. */
  async readFile(rel: string, maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
    const { fh, size } = await this.openRead(rel);
    try {
      if (size > maxBytes) throw new ToolError(`storage: ${JSON.stringify(rel)} is ${size} bytes, more than the ${maxBytes} allowed here`, 413);
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  /** Writes a whole file atomically (temp + fsync + rename/link), creating parent folders. */
  async writeFile(rel: string, data: Uint8Array, opts: { overwrite: boolean }): Promise<void> {
    const up = await this.beginUpload(rel, opts.overwrite);
    try {
      await up.write(data);
      await up.commit();
    } catch (err) {
      await up.abort();
      throw err;
    }
  }

  /** Deletes a file, a symlink (the link itself) or a folder (`recursive` if not empty). */
  async delete(rel: string, recursive: boolean): Promise<void> {
    rel = norm(rel, true);
    if (rel === "") throw new ToolError("storage: refusing to delete the storage root", 400);
    await this.inParent(rel, false, async (dir, name) => {
      const st = await lstat(at(dir, name)).catch(() => null);
      if (st === null) throw new ToolError(`storage: ${JSON.stringify(rel)} does not exist`, 404);
      this.fence();
      if (!st.isDirectory()) await unlink(at(dir, name));
      else if (recursive) await removeEntry(dir, Buffer.from(name, "utf8"));
      else {
        await rmdir(at(dir, name)).catch((err) => {
          if (errnoOf(err) === "ENOTEMPTY" || errnoOf(err) === "EEXIST") {
            throw new ToolError(`storage: folder ${JSON.stringify(rel)} is not empty; pass recursive: true to delete it with its contents`, 409);
          }
          throw err;
        });
      }
      await syncDir(dir);
      this.apiChanges.removed(rel);
    });
  }

  /**
   * Moves a file or folder. Without `overwrite` the destination name is claimed atomically:
   * a file by link-then-unlink, a folder by creating an empty folder and renaming onto it.
   */
  async move(fromRel: string, toRel: string, overwrite: boolean): Promise<void> {
    fromRel = norm(fromRel, false);
    toRel = norm(toRel, false);
    if (toRel === fromRel || toRel.startsWith(fromRel + "/")) throw new ToolError(`storage: cannot move ${JSON.stringify(fromRel)} into itself`, 400);
    this.fence();
    await this.inParent(fromRel, false, async (fromDir, fromName) => {
      const st = await lstat(at(fromDir, fromName)).catch(() => null);
      if (st === null) throw new ToolError(`storage: ${JSON.stringify(fromRel)} does not exist`, 404);
      if (st.isSymbolicLink()) throw new ToolError(`storage: ${JSON.stringify(fromRel)} is a symlink; storage never follows or moves links`, 403);
      await this.inParent(toRel, true, async (toDir, toName) => {
        const src = at(fromDir, fromName);
        const dst = at(toDir, toName);
        try {
          if (overwrite) await rename(src, dst);
          else if (!st.isDirectory()) {
            await link(src, dst);
            await unlink(src);
          } else {
            await mkdir(dst); // EEXIST: taken
            await rename(src, dst).catch(async (err) => {
              await rmdir(dst).catch(() => undefined);
              throw err;
            });
          }
        } catch (err) {
          const code = errnoOf(err);
          if (overwrite && (code === "EEXIST" || code === "ENOTEMPTY")) throw new ToolError(`storage: ${JSON.stringify(toRel)} is a folder that is not empty; it cannot be replaced`, 409);
          if (code === "EEXIST" || code === "ENOTEMPTY") throw exists409(toRel);
          if (code === "EISDIR") throw new ToolError(`storage: ${JSON.stringify(toRel)} is a folder; a file cannot replace it`, 409);
          if (code === "ENOTDIR") throw new ToolError(`storage: ${JSON.stringify(toRel)} is a file; a folder cannot replace it`, 409);
          if (code === "ENOENT") throw new ToolError(`storage: ${JSON.stringify(fromRel)} does not exist`, 404);
          if (code === "EINVAL") throw new ToolError(`storage: cannot move ${JSON.stringify(fromRel)} into itself`, 400);
          throw err;
        }
        await syncDir(toDir);
        await syncDir(fromDir);
        this.apiChanges.removed(fromRel);
        const moved = await lstat(dst).catch(() => null);
        if (moved?.isFile()) this.apiChanges.wrote(toRel, moved);
      });
    });
  }

  /** Crash recovery: uploads that never committed are discarded. */
  async discardIncompleteUploads(): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
  }
}

/**
 * An upload in progress: bytes go to `<room>/.tmp/<uuid>.part` (held by fd) until commit.
 * `abort()` closes and removes the temp file; it is safe to call at any time, more than once.
 */
export class Upload {
  private readonly storage: RoomStorage;
  readonly rel: string;
  private readonly tmpDir: FileHandle;
  private readonly tmpName: string;
  private readonly fh: FileHandle;
  private readonly overwrite: boolean;
  bytes = 0;
  private state: "open" | "committing" | "done" = "open";

  constructor(storage: RoomStorage, rel: string, tmpDir: FileHandle, tmpName: string, fh: FileHandle, overwrite: boolean) {
    this.storage = storage;
    this.rel = rel;
    this.tmpDir = tmpDir;
    this.tmpName = tmpName;
    this.fh = fh;
    this.overwrite = overwrite;
  }

  /** Host path of the temp file (diagnostics and tests). */
  get tempPath(): string {
    return join(this.storage.tmpDir, this.tmpName);
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.state !== "open") throw new ToolError(`storage: the upload of ${JSON.stringify(this.rel)} was aborted`, 409);
    await this.fh.write(data);
    this.bytes += data.length;
  }

  async commit(): Promise<void> {
    if (this.state !== "open") throw new ToolError(`storage: the upload of ${JSON.stringify(this.rel)} was aborted`, 409);
    this.state = "committing";
    try {
      await this.fh.sync();
      await this.fh.close();
      await this.storage.place(this.rel, this.tmpDir, this.tmpName, this.overwrite);
    } finally {
      this.state = "done";
      await unlink(at(this.tmpDir, this.tmpName)).catch(() => undefined);
      await this.tmpDir.close().catch(() => undefined);
    }
  }

  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "done";
    await this.fh.close().catch(() => undefined);
    await unlink(at(this.tmpDir, this.tmpName)).catch(() => undefined);
    await this.tmpDir.close().catch(() => undefined);
  }
}

function norm(rel: string, allowRoot: boolean): string {
  return normalizeStoragePath(rel, { allowRoot });
}

function split(rel: string): string[] {
  return rel === "" ? [] : rel.split("/");
}

function exists409(rel: string): ToolError {
  return new ToolError(`storage: ${JSON.stringify(rel)} already exists; pass overwrite: true to replace it`, 409);
}

/**
 * Removes entry `raw` (a name as bytes: names on disk need not be UTF-8) inside the held
 * folder `dir`, and for a folder everything below it, never following links: a folder that
 * turns into a symlink meanwhile is unlinked as a link.
 */
async function removeEntry(dir: FileHandle, raw: Buffer): Promise<void> {
  const path = Buffer.concat([Buffer.from(at(dir, "") + "/"), raw]);
  const ignoreGone = (err: unknown) => {
    if (errnoOf(err) !== "ENOENT") throw err;
  };
  const st = await lstat(path).catch(() => null);
  if (st === null) return;
  if (!st.isDirectory()) return await unlink(path).catch(ignoreGone);
  let sub: FileHandle;
  try {
    sub = await open(path, DIR_FLAGS);
  } catch (err) {
    if (errnoOf(err) === "ELOOP" || errnoOf(err) === "ENOTDIR") return await unlink(path).catch(ignoreGone);
    return ignoreGone(err);
  }
  try {
    for (const child of await readdir(at(sub, ""), { encoding: "buffer" })) await removeEntry(sub, child);
  } finally {
    await sub.close();
  }
  await rmdir(path).catch(ignoreGone);
}
