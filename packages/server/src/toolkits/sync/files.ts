import type { RoomStorage } from "../../storage/room-storage.ts";
import { ToolError } from "../types.ts";

/**
 * The only way the sync and chat code reaches room storage: whole-file reads and atomic
 * whole-file writes through `RoomStorage` (which walks directory fds and never follows a
 * link). Paths are normalized room-relative paths (`normalizeStoragePath`).
 */
export interface DocumentFiles {
  /** The file's bytes, or null when it does not exist. 413 beyond `maxBytes`. */
  read(path: string, maxBytes: number): Promise<Uint8Array | null>;
  /** Replaces the file atomically: temp file, fsync, rename, fsync of the directory. */
  write(path: string, data: Uint8Array): Promise<void>;
  /** Writes only when nothing is at `path` yet; false when something was. */
  writeIfAbsent(path: string, data: Uint8Array): Promise<boolean>;
  exists(path: string): Promise<boolean>;
}

/**
 * `onWritten(path)` hears of every file written (a document saved, the thread schema seeded):
 * the server announces it as a storage event, as it does the storage toolkit's writes, so a
 * participant browsing the room's files sees them come and change (Studio's Storage panel).
 */
export function roomDocumentFiles(storage: RoomStorage, onWritten: (path: string) => void = () => undefined): DocumentFiles {
  return {
    async read(path, maxBytes) {
      try {
        return await storage.readFile(path, maxBytes);
      } catch (err) {
        if (err instanceof ToolError && err.code === 404) return null;
        throw err;
      }
    },
    async write(path, data) {
      await storage.writeFile(path, data, { overwrite: true });
      onWritten(path);
    },
    async writeIfAbsent(path, data) {
      if ((await storage.stat(path)) !== null) return false;
      try {
        await storage.writeFile(path, data, { overwrite: false });
        onWritten(path);
        return true;
      } catch (err) {
        if (err instanceof ToolError && err.code === 409) return false;
        throw err;
      }
    },
    async exists(path) {
      return (await storage.stat(path)) !== null;
    },
  };
}
