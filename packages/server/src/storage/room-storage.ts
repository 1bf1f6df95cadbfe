import { randomUUID } from "node:crypto";
import { constants as fsc, createReadStream } from "node:fs";
import { mkdir, open, realpath, rename, rm, stat, lstat, readdir, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join, sep, basename } from "node:path";
import { ToolError } from "../toolkits/types.ts";
import { ApiChangeLog } from "./api-changes.ts";

export interface StorageEntryJson {
  name: string;
  is_folder: boolean;
  size: number | null;
  created_at: string | null;
  updated_at: string | null;
}

/**
 * One room's files on disk: `<roomDir>/storage` holds the tree, `<roomDir>/.tmp` holds
 * uploads in progress. Uploads are written to a temp file, fsynced, then renamed over the
 * target, so a crash never leaves a partial file under the target name; `.tmp` is emptied
 * at server start.
 */
export class RoomStorage {
  readonly root: string;
  readonly tmpDir: string;
  /** The API's own changes, so the mount watcher does not announce them twice. */
  readonly apiChanges = new ApiChangeLog();

  constructor(roomDir: string) {
    this.root = join(roomDir, "storage");
    this.tmpDir = join(roomDir, ".tmp");
  }

  private async ensureRoot(): Promise<string> {
    await mkdir(this.root, { recursive: true });
    return await realpath(this.root);
  }

  /**
   * Resolves a normalized relative path and refuses it if any existing component is a
   * symlink that leads outside the room root.
   */
  private async resolve(rel: string): Promise<string> {
    const rootReal = await this.ensureRoot();
    const target = rel === "" ? rootReal : join(rootReal, rel);
    // Walk up to the deepest existing ancestor and check where it really is.
    let probe = target;
    for (;;) {
      try {
        const real = await realpath(probe);
        if (real !== rootReal && !real.startsWith(rootReal + sep)) {
          throw new ToolError(`storage: path ${JSON.stringify(rel)} resolves outside the room's storage (symlink escape refused)`, 403);
        }
        break;
      } catch (err) {
        if (err instanceof ToolError) throw err;
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        const parent = dirname(probe);
        if (parent === probe) break;
        probe = parent;
      }
    }
    return target;
  }

  private static entry(name: string, st: { isDirectory(): boolean; size: number; birthtime: Date; mtime: Date }): StorageEntryJson {
    const folder = st.isDirectory();
    return {
      name,
      is_folder: folder,
      size: folder ? null : st.size,
      created_at: st.birthtime.toISOString(),
      updated_at: st.mtime.toISOString(),
    };
  }

  async list(rel: string): Promise<StorageEntryJson[]> {
    const dir = await this.resolve(rel);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new ToolError(`storage: folder ${JSON.stringify(rel)} does not exist`, 404);
      if (code === "ENOTDIR") throw new ToolError(`storage: ${JSON.stringify(rel)} is a file, not a folder`, 400);
      throw err;
    }
    const out: StorageEntryJson[] = [];
    for (const name of names.sort()) {
      try {
        const st = await lstat(join(dir, name));
        if (st.isSymbolicLink()) continue; // links are never followed or exposed
        out.push(RoomStorage.entry(name, st));
      } catch {
        // vanished between readdir and stat
      }
    }
    return out;
  }

  async stat(rel: string): Promise<StorageEntryJson | null> {
    const p = await this.resolve(rel);
    try {
      const st = await stat(p);
      return RoomStorage.entry(rel === "" ? "" : basename(rel), st);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  /** Opens an upload: data goes to a temp file until commit(). */
  async beginUpload(rel: string, overwrite: boolean): Promise<Upload> {
    const target = await this.resolve(rel);
    if (!overwrite && (await exists(target))) {
      throw new ToolError(`storage: ${JSON.stringify(rel)} already exists; pass overwrite: true to replace it`, 409);
    }
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${randomUUID()}.part`);
    const fh = await open(tmp, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
    return new Upload(this, rel, target, tmp, fh, overwrite);
  }

  /** Used by Upload.commit: create parents (checked again for escapes) and rename. */
  async place(rel: string, tmp: string, overwrite: boolean): Promise<void> {
    const target = await this.resolve(rel);
    await mkdir(dirname(target), { recursive: true });
    await this.resolve(rel); // the parents now exist: re-check none is a link out
    if (!overwrite && (await exists(target))) {
      throw new ToolError(`storage: ${JSON.stringify(rel)} already exists; pass overwrite: true to replace it`, 409);
    }
    const st = await stat(target).catch(() => null);
    if (st?.isDirectory()) throw new ToolError(`storage: ${JSON.stringify(rel)} is a folder`, 409);
    await rename(tmp, target);
    await fsyncDir(dirname(target));
    this.apiChanges.wrote(rel, await stat(target));
  }

  async openRead(rel: string): Promise<{ fh: FileHandle; size: number; path: string }> {
    const p = await this.resolve(rel);
    let fh: FileHandle;
    try {
      fh = await open(p, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new ToolError(`storage: file ${JSON.stringify(rel)} does not exist`, 404);
      if (code === "ELOOP") throw new ToolError(`storage: ${JSON.stringify(rel)} is a symlink; links are not followed`, 403);
      throw err;
    }
    const st = await fh.stat();
    if (st.isDirectory()) {
      await fh.close();
      throw new ToolError(`storage: ${JSON.stringify(rel)} is a folder, not a file`, 400);
    }
    return { fh, size: st.size, path: p };
  }

  createReadStream(absPath: string) {
    return createReadStream(absPath);
  }

  async delete(rel: string, recursive: boolean): Promise<void> {
    if (rel === "") throw new ToolError("storage: refusing to delete the storage root", 400);
    const p = await this.resolve(rel);
    const st = await lstat(p).catch(() => null);
    if (st === null) throw new ToolError(`storage: ${JSON.stringify(rel)} does not exist`, 404);
    if (st.isDirectory()) {
      if (!recursive && (await readdir(p)).length > 0) {
        throw new ToolError(`storage: folder ${JSON.stringify(rel)} is not empty; pass recursive: true to delete it with its contents`, 409);
      }
      await rm(p, { recursive: true, force: true });
    } else await unlink(p);
    await fsyncDir(dirname(p));
    this.apiChanges.removed(rel);
  }

  async move(fromRel: string, toRel: string, overwrite: boolean): Promise<void> {
    const from = await this.resolve(fromRel);
    const to = await this.resolve(toRel);
    if (!(await exists(from))) throw new ToolError(`storage: ${JSON.stringify(fromRel)} does not exist`, 404);
    if (to === from || to.startsWith(from + sep)) throw new ToolError(`storage: cannot move ${JSON.stringify(fromRel)} into itself`, 400);
    if (!overwrite && (await exists(to))) {
      throw new ToolError(`storage: ${JSON.stringify(toRel)} already exists; pass overwrite: true to replace it`, 409);
    }
    await mkdir(dirname(to), { recursive: true });
    await this.resolve(toRel);
    await rename(from, to);
    await fsyncDir(dirname(to));
    if (dirname(to) !== dirname(from)) await fsyncDir(dirname(from));
    this.apiChanges.removed(fromRel);
    const st = await stat(to);
    if (st.isFile()) this.apiChanges.wrote(toRel, st);
  }

  /** Crash recovery: uploads that never committed are discarded. */
  async discardIncompleteUploads(): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
  }
}

export class Upload {
  private readonly storage: RoomStorage;
  readonly rel: string;
  readonly target: string;
  private readonly tmp: string;
  private readonly fh: FileHandle;
  private readonly overwrite: boolean;
  bytes = 0;
  private done = false;

  constructor(storage: RoomStorage, rel: string, target: string, tmp: string, fh: FileHandle, overwrite: boolean) {
    this.storage = storage;
    this.rel = rel;
    this.target = target;
    this.tmp = tmp;
    this.fh = fh;
    this.overwrite = overwrite;
  }

  async write(data: Uint8Array): Promise<void> {
    await this.fh.write(data);
    this.bytes += data.length;
  }

  async commit(): Promise<void> {
    this.done = true;
    try {
      await this.fh.sync();
      await this.fh.close();
      await this.storage.place(this.rel, this.tmp, this.overwrite);
    } catch (err) {
      await unlink(this.tmp).catch(() => undefined);
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsc.O_RDONLY).catch(() => null);
  if (fh === null) return;
  try {
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on directories; the rename is still atomic
  } finally {
    await fh.close();
  }
}
