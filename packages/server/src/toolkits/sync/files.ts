import type { RoomStorage } from "../../storage/room-storage.ts";
import { ToolError } from "../types.ts";

/**
 * The only way the sync and chat code reaches room storage. It sits over today's
 * `RoomStorage` API; when room storage moves to directory-fd walking, only this adapter
 * changes. Paths are normalized room-relative paths (`normalizeStoragePath`).
 */
export interface DocumentFiles {
  /** The file's bytes, or null when it does not exist. */
  read(path: string, maxBytes: number): Promise<Uint8Array | null>;
  /** Replaces the file atomically: temp file, fsync, rename, fsync of the directory. */
  write(path: string, data: Uint8Array): Promise<void>;
  /** Writes only when nothing is at `path` yet; false when something was. */
  writeIfAbsent(path: string, data: Uint8Array): Promise<boolean>;
  exists(path: string): Promise<boolean>;
}

export function roomDocumentFiles(storage: RoomStorage): DocumentFiles {
  return {
    async read(path, maxBytes) {
      let opened;
      try {
        opened = await storage.openRead(path);
      } catch (err) {
        if (err instanceof ToolError && err.code === 404) return null;
        throw err;
      }
      try {
        if (opened.size > maxBytes) {
          throw new ToolError(`sync: ${JSON.stringify(path)} is ${opened.size} bytes, over the ${maxBytes}-byte document limit`, 413);
        }
        const buf = Buffer.alloc(opened.size);
        let off = 0;
        while (off < buf.length) {
          const { bytesRead } = await opened.fh.read(buf, off, buf.length - off, off);
          if (bytesRead === 0) break;
          off += bytesRead;
        }
        return buf.subarray(0, off);
      } finally {
        await opened.fh.close();
      }
    },
    async write(path, data) {
      const up = await storage.beginUpload(path, true);
      try {
        await up.write(data);
        await up.commit();
      } catch (err) {
        await up.abort();
        throw err;
      }
    },
    async writeIfAbsent(path, data) {
      if ((await storage.stat(path)) !== null) return false;
      const up = await storage.beginUpload(path, false);
      try {
        await up.write(data);
        await up.commit();
        return true;
      } catch (err) {
        await up.abort();
        if (err instanceof ToolError && err.code === 409) return false;
        throw err;
      }
    },
    async exists(path) {
      return (await storage.stat(path)) !== null;
    },
  };
}
