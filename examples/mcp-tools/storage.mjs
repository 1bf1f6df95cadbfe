// Room storage as this service sees it: mounted at DATA_DIR (/data). Every path a tool is
// given is relative to it, and may not leave it.
import { open, rename, mkdir } from "node:fs/promises";
import { basename, dirname, join, resolve, relative, sep } from "node:path";
import { randomUUID } from "node:crypto";

export const DATA_DIR = resolve(process.env.DATA_DIR ?? "/data");

/** The absolute path of a room-storage path, or an Error that says why it is refused. */
export function storagePath(p) {
  if (typeof p !== "string" || p.length === 0) throw new Error("path must be a non-empty string relative to room storage, e.g. \"inbox/orders.csv\"");
  const abs = resolve(DATA_DIR, p.replace(/^\/+/, ""));
  const rel = relative(DATA_DIR, abs);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`)) throw new Error(`path ${JSON.stringify(p)} is outside room storage`);
  return abs;
}

/**
 * Writes a file atomically: a temporary file in the same directory, fsync, then rename, so a
 * reader (or the room's storage API) never sees half a report.
 */
export async function writeAtomic(p, text) {
  const abs = storagePath(p);
  await mkdir(dirname(abs), { recursive: true });
  // A dot-named temp file: Roomservice does not announce dot-files as storage events.
  const tmp = join(dirname(abs), `.${basename(abs)}.${randomUUID()}.tmp`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, abs);
}
