import type { Stats } from "node:fs";

const MAX_ENTRIES = 1000;

/** The identity of a file's content as the file system reports it. */
export function fileIdentity(st: Pick<Stats, "ino" | "size" | "mtimeMs">): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

/**
 * What the Room API itself last did to each path (bounded, oldest dropped first), so the
 * mount watcher can tell the API's own writes — already announced with a storage event —
 * from writes by services through their mounts. Matching is by file identity (inode, size,
 * mtime), not by time, so a slow watcher never mistakes one for the other.
 */
export class ApiChangeLog {
  private readonly last = new Map<string, string>(); // rel -> identity | "deleted"

  wrote(rel: string, st: Pick<Stats, "ino" | "size" | "mtimeMs">): void {
    this.set(rel, fileIdentity(st));
  }

  removed(rel: string): void {
    this.set(rel, "deleted");
  }

  /**
   * True when `observed` (a file's identity, or null when it no longer exists) is exactly
   * what the API left at `rel`; the record is used up either way a match is found.
   */
  consume(rel: string, observed: string | null): boolean {
    const v = this.last.get(rel);
    if (v === undefined) return false;
    if (v === (observed ?? "deleted")) {
      this.last.delete(rel);
      return true;
    }
    return false;
  }

  private set(rel: string, v: string): void {
    this.last.delete(rel);
    this.last.set(rel, v);
    if (this.last.size > MAX_ENTRIES) this.last.delete(this.last.keys().next().value!);
  }
}
