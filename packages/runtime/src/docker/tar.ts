/**
 * A tiny streaming tar (ustar) writer for Docker build contexts. Streaming matters: the base
 * image context carries the ~120 MB node binary, which should never sit in memory.
 */
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { Readable } from "node:stream";

export type TarEntry =
  | { name: string; mode: number; type: "file"; data: Buffer }
  | { name: string; mode: number; type: "file"; path: string; size: number }
  | { name: string; mode: number; type: "dir" }
  | { name: string; mode: number; type: "symlink"; target: string };

const BLOCK = 512;

function octal(n: number, width: number): string {
  // width includes the trailing NUL
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  let name = e.name.replace(/^\/+/, "");
  if (e.type === "dir" && !name.endsWith("/")) name += "/";
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    // ustar splits long paths at a slash: prefix (155) + name (100).
    const cut = name.lastIndexOf("/", name.length - 2);
    prefix = cut > 0 ? name.slice(0, cut) : "";
    name = cut > 0 ? name.slice(cut + 1) : name;
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) {
      throw new Error(`path too long for the build context tar: ${e.name}; shorten it or move it up the tree`);
    }
  }
  h.write(name, 0, 100, "utf8");
  h.write(octal(e.mode & 0o7777, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii"); // uid
  h.write(octal(0, 8), 116, "ascii"); // gid
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii"); // mtime 0: identical contexts hash identically (build cache hits)
  h.fill(" ", 148, 156); // checksum placeholder while summing
  h.write(e.type === "dir" ? "5" : e.type === "symlink" ? "2" : "0", 156, "ascii");
  if (e.type === "symlink") h.write(e.target, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

async function* chunks(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    const size = e.type === "file" ? ("data" in e ? e.data.length : e.size) : 0;
    yield header(e, size);
    if (e.type !== "file") continue;
    if ("data" in e) yield e.data;
    else {
      let read = 0;
      for await (const c of createReadStream(e.path)) {
        read += (c as Buffer).length;
        yield c as Buffer;
      }
      if (read !== size) throw new Error(`${e.path} changed size while being archived (${size} → ${read} bytes)`);
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(BLOCK * 2); // end-of-archive marker
}

export function tarStream(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): Readable {
  return Readable.from(chunks(entries), { objectMode: false });
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
