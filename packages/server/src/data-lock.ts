/**
 * One server per data directory. A second `serve` on the same directory would close the
 * running server's open sessions as "server_restart" and reap its containers (same owner id)
 * before even finding its port taken (issue 12 #12). So the first thing a server does is take
 * `<data>/server.lock`: created exclusively (O_EXCL), holding the pid and, once bound, the port.
 * A lock whose pid is no longer alive is left over from a killed server and is taken over.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface LockInfo {
  pid: number;
  /** The port the holder listens on; null while it is still starting. */
  port: number | null;
  startedAt: number;
}

/** Another live server holds the data directory. `message` names its pid and port. */
export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
  readonly holder: LockInfo;
  constructor(dataDir: string, holder: LockInfo) {
    super(
      `data directory ${dataDir} is in use by another roomservice server (pid ${holder.pid}, ` +
        `${holder.port === null ? "still starting" : `port ${holder.port}`}); stop it first or use another --data directory`,
    );
    this.holder = holder;
  }
}

export interface DataDirLock {
  readonly path: string;
  /** Records the bound port, for the message a second server prints. */
  setPort(port: number): void;
  /** Deletes the lock file (idempotent). */
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as Partial<LockInfo>;
    return typeof v.pid === "number" ? { pid: v.pid, port: typeof v.port === "number" ? v.port : null, startedAt: v.startedAt ?? 0 } : null;
  } catch {
    return null; // unreadable or half-written: treated as stale below only if its writer is gone
  }
}

/**
 * Takes the data directory's lock; throws DataDirLockedError when a live process holds it.
 * `now` is for the record only (ms since epoch).
 */
export function lockDataDir(dataDir: string, now: number): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, "server.lock");
  let info: LockInfo = { pid: process.pid, port: null, startedAt: now };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      try {
        writeSync(fd, JSON.stringify(info) + "\n");
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new DataDirLockedError(dataDir, readLock(path) ?? { pid: 0, port: null, startedAt: 0 });
        throw err;
      }
      const holder = readLock(path);
      if (holder !== null && alive(holder.pid)) throw new DataDirLockedError(dataDir, holder);
      // Left by a server that was killed: take it over. Only one of two racing starters wins
      // the exclusive create that follows.
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first
      }
    }
  }
  let released = false;
  return {
    path,
    setPort(port) {
      info = { ...info, port };
      if (!released) writeFileSync(path, JSON.stringify(info) + "\n");
    },
    release() {
      if (released) return;
      released = true;
      const holder = readLock(path);
      if (holder?.pid === process.pid && holder.startedAt === info.startedAt) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    },
  };
}
