/**
 * Docker build contexts as a tar stream, written by tar-stream (the field's kept tar
 * library; issue 12 asked for it over our own ustar writer). Streaming matters: the base
 * image context carries the ~120 MB node binary, which should never sit in memory.
 */
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";

export type TarEntry =
  | { name: string; mode: number; type: "file"; data: Buffer }
  | { name: string; mode: number; type: "file"; path: string; size: number }
  | { name: string; mode: number; type: "dir" }
  | { name: string; mode: number; type: "symlink"; target: string };

/** mtime 0, uid/gid 0: identical contexts hash identically (build cache hits). */
const FIXED = { mtime: new Date(0), uid: 0, gid: 0 } as const;

async function writeEntries(pack: tar.Pack, entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): Promise<void> {
  for await (const e of entries) {
    const base = { ...FIXED, name: e.name.replace(/^\/+/, ""), mode: e.mode & 0o7777 };
    if (e.type === "dir") {
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: "directory" }, (err) => (err ? rej(err) : res())));
    } else if (e.type === "symlink") {
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: "symlink", linkname: e.target }, (err) => (err ? rej(err) : res())));
    } else if ("data" in e) {
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: "file", size: e.data.length }, e.data, (err) => (err ? rej(err) : res())));
    } else {
      // tar-stream fails the entry when the bytes written differ from `size` (a file that
      // changed while being archived).
      await new Promise<void>((res, rej) => {
        const sink = pack.entry({ ...base, type: "file", size: e.size }, (err) => (err ? rej(new Error(`${e.path}: ${err.message} (did it change while being archived?)`)) : res()));
        const src = createReadStream(e.path);
        src.on("error", rej);
        src.pipe(sink as unknown as NodeJS.WritableStream);
      });
    }
  }
  pack.finalize();
}

/** The entries as a tar stream (ends with the end-of-archive marker). */
export function tarStream(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): Readable {
  const pack = tar.pack();
  writeEntries(pack, entries).catch((err: Error) => pack.destroy(err));
  return Readable.from(pack);
}

/** Every file, directory and symlink under `dir`, named relative to it (a build context). */
export async function* walkDir(dir: string): AsyncGenerator<TarEntry> {
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    const names = (await readdir(d)).sort();
    for (const n of names) {
      const p = join(d, n);
      const name = relative(dir, p).split(sep).join("/");
      const st = await lstat(p);
      if (st.isDirectory()) {
        yield { name, mode: st.mode, type: "dir" };
        stack.push(p);
      } else if (st.isSymbolicLink()) {
        yield { name, mode: st.mode, type: "symlink", target: await readlink(p) };
      } else if (st.isFile()) {
        yield { name, mode: st.mode, type: "file", path: p, size: st.size };
      }
      // sockets, fifos, devices: not meaningful in a build context; skipped
    }
  }
}
