/**
 * Building images without a registry: everything is built locally FROM scratch through the
 * Engine API's /build endpoint, with a build context this module tars itself.
 */
import { execFile } from "node:child_process";
import { realpathSync } from "node:fs";
import { stat } from "node:fs/promises";
import { promisify } from "node:util";
import { DockerEngine, DockerError, jsonLines } from "./engine.ts";
import { tarStream, walkDir, type TarEntry } from "./tar.ts";

export const BASE_IMAGE = "roomservice/node:24";
export const PAUSE_IMAGE = "roomservice/pause:1";
const NODE_IN_IMAGE = "/usr/local/bin/node";

export type ProgressFn = (line: string) => void;

async function imageLabels(docker: DockerEngine, tag: string): Promise<Record<string, string> | null> {
  try {
    const img = await docker.json<{ Config?: { Labels?: Record<string, string> | null } }>({ method: "GET", path: `/images/${encodeURIComponent(tag)}/json` });
    return img.Config?.Labels ?? {};
  } catch (err) {
    if (err instanceof DockerError && err.status === 404) return null;
    throw err;
  }
}

export async function imageExists(docker: DockerEngine, tag: string): Promise<boolean> {
  return (await imageLabels(docker, tag)) !== null;
}

/** POSTs a tar context to /build, streams progress, resolves with the image id. */
export async function buildFromEntries(
  docker: DockerEngine,
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  tag: string,
  onProgress?: ProgressFn,
  labels?: Record<string, string>,
): Promise<string> {
  const res = await docker.raw({
    method: "POST",
    path: "/build",
    query: { t: tag, rm: 1, forcerm: 1, labels: labels === undefined ? undefined : JSON.stringify(labels) },
    stream: tarStream(entries),
    contentType: "application/x-tar",
  });
  let id = "";
  for await (const msg of jsonLines(res)) {
    if (typeof msg.error === "string") throw new DockerError(`building ${tag} failed: ${msg.error.trim()}`, 500);
    if (typeof msg.stream === "string") {
      for (const line of msg.stream.split("\n")) if (line.trim() !== "") onProgress?.(line.trimEnd());
    }
    const aux = msg.aux as { ID?: string } | undefined;
    if (aux?.ID !== undefined) id = aux.ID;
  }
  if (id === "") {
    // Older daemons report the id only as "Successfully built <id>"; ask for it instead.
    const img = await docker.json<{ Id: string }>({ method: "GET", path: `/images/${encodeURIComponent(tag)}/json` });
    id = img.Id;
  }
  return id;
}

/**
 * Builds a service image from a directory containing a Dockerfile. The directory is sent as
 * is (no .dockerignore processing), so keep build contexts small.
 */
export async function buildImage(docker: DockerEngine, dir: string, tag: string, onProgress?: ProgressFn): Promise<string> {
  try {
    await stat(`${dir}/Dockerfile`);
  } catch {
    throw new Error(`no Dockerfile in ${dir}: a build context needs one at its top level`);
  }
  return buildFromEntries(docker, walkDir(dir), tag, onProgress);
}

/** The shared libraries a dynamically linked binary needs, as `ldd` lists them. */
export async function lddLibraries(binary: string): Promise<string[]> {
  let out: string;
  try {
    out = (await promisify(execFile)("ldd", [binary])).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    // ldd exits 1 for a static binary ("not a dynamic executable"): no libraries needed.
    if (`${e.stdout ?? ""}${e.stderr ?? ""}`.includes("not a dynamic executable")) return [];
    throw new Error(`ldd ${binary} failed (is ldd installed? apt-get install libc-bin): ${(err as Error).message}`);
  }
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m !== null) libs.push(m[1]);
  }
  return libs;
}

/**
 * Builds `roomservice/node:24` FROM scratch: the node binary plus the libraries `ldd` lists.
 * No shell inside, so service images must use exec-form CMD/ENTRYPOINT. Skipped when an image
 * built from the same node version exists, unless `force`.
 */
export async function buildBaseImage(
  docker: DockerEngine,
  o: { nodeBinary?: string; tag?: string; force?: boolean; onProgress?: ProgressFn } = {},
): Promise<string> {
  const tag = o.tag ?? BASE_IMAGE;
  const nodeBinary = realpathSync(o.nodeBinary ?? process.execPath);
  const version = await nodeVersion(nodeBinary);
  const labels = await imageLabels(docker, tag);
  if (!o.force && labels !== null && labels["dev.roomservice.node-version"] === version) return tag;

  const entries: TarEntry[] = [];
  const add = async (from: string, to: string) => {
    const st = await stat(from); // follows symlinks: the image holds real files, no links
    entries.push({ name: `rootfs${to}`, mode: 0o755, type: "file", path: from, size: st.size });
  };
  await add(nodeBinary, NODE_IN_IMAGE);
  for (const lib of await lddLibraries(nodeBinary)) await add(lib, lib);
  const dockerfile = [
    "FROM scratch",
    "COPY rootfs/ /",
    "ENV PATH=/usr/local/bin",
    `LABEL dev.roomservice.node-version="${version}"`,
    `CMD ["${NODE_IN_IMAGE}"]`,
    "",
  ].join("\n");
  entries.unshift({ name: "Dockerfile", mode: 0o644, type: "file", data: Buffer.from(dockerfile) });
  await buildFromEntries(docker, entries, tag, o.onProgress);
  return tag;
}

async function nodeVersion(bin: string): Promise<string> {
  if (bin === realpathSync(process.execPath)) return process.version;
  return (await promisify(execFile)(bin, ["--version"])).stdout.trim();
}

/**
 * A 129-byte static x86-64 ELF whose whole program is `for (;;) pause();`. It only holds the
 * room's network namespace open; with Init (tini) as PID 1 it dies on SIGTERM at once.
 * Hand-assembled because no registry (and no `pause` image) is reachable.
 */
export function pauseElf(): Buffer {
  const base = 0x400000n;
  const code = Buffer.from([0xb8, 0x22, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]); // mov eax,34(pause); syscall; jmp -9
  const size = 64 + 56 + code.length;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // ELF, 64-bit, little endian, v1, SysV
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0x3e, 18); // x86-64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(base + 120n, 24); // entry: right after the headers
  b.writeBigUInt64LE(64n, 32); // program headers at 64
  b.writeUInt16LE(64, 52); // ehsize
  b.writeUInt16LE(56, 54); // phentsize
  b.writeUInt16LE(1, 56); // phnum
  b.writeUInt32LE(1, 64); // PT_LOAD
  b.writeUInt32LE(5, 68); // R+X
  b.writeBigUInt64LE(0n, 72); // offset
  b.writeBigUInt64LE(base, 80); // vaddr
  b.writeBigUInt64LE(base, 88); // paddr
  b.writeBigUInt64LE(BigInt(size), 96); // filesz
  b.writeBigUInt64LE(BigInt(size), 104); // memsz
  b.writeBigUInt64LE(0x1000n, 112); // align
  code.copy(b, 120);
  return b;
}

/** The per-room namespace holder image; built once per daemon. */
export async function ensurePauseImage(docker: DockerEngine, onProgress?: ProgressFn): Promise<string> {
  if (await imageExists(docker, PAUSE_IMAGE)) return PAUSE_IMAGE;
  if (process.arch !== "x64") {
    // No hand-made ELF for this architecture: idle node from the base image instead (bigger, same job).
    await buildBaseImage(docker, { onProgress });
    const df = `FROM ${BASE_IMAGE}\nCMD ["${NODE_IN_IMAGE}", "-e", "setInterval(() => {}, 1 << 30)"]\n`;
    await buildFromEntries(docker, [{ name: "Dockerfile", mode: 0o644, type: "file", data: Buffer.from(df) }], PAUSE_IMAGE, onProgress);
    return PAUSE_IMAGE;
  }
  const df = 'FROM scratch\nCOPY pause /pause\nCMD ["/pause"]\n';
  await buildFromEntries(
    docker,
    [
      { name: "Dockerfile", mode: 0o644, type: "file", data: Buffer.from(df) },
      { name: "pause", mode: 0o755, type: "file", data: pauseElf() },
    ],
    PAUSE_IMAGE,
    onProgress,
  );
  return PAUSE_IMAGE;
}
