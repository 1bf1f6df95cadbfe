/**
 * Debian base images without a registry: `debootstrap` a minimal Debian into a folder (from
 * Debian's own package mirror), add the host's Node binary, and import the folder into Docker
 * as an image. Service images that need Debian programs (espeak-ng, pocketsphinx, ...) build
 * `FROM` it offline, like `FROM roomservice/node:24`.
 *
 * The recipe is data ({@link DebianRecipe}); its canonical JSON plus the Node version and the
 * CPU architecture is hashed; the image is tagged `roomservice/debian-recipe:<hash>` (and
 * labelled with it). A second build of the same recipe finds that tag and returns at once
 * (re-pointing the requested tag if it moved).
 * Package *versions* are not part of the key: `force` rebuilds to pick up Debian updates.
 *
 * Steps (each reported through `onProgress`):
 *  1. `debootstrap --variant=minbase --include=<packages> <suite> <dir> <mirror>` into a
 *     private tmpfs (dpkg fsyncs every file; on disk that dominated the build time), with
 *     downloaded .debs kept in `cacheDir` so a forced rebuild downloads nothing.
 *  2. Copy the Node binary to /usr/local/bin/node (as `buildBaseImage` does) and run it
 *     inside the tree with `chroot` to prove its libraries are there.
 *  3. Remove what a container never reads: apt's package lists and .deb cache, man pages.
 *  4. Stream `tar` of the tree to the Engine API (`POST /images/create?fromSrc=-`), then a
 *     one-line build on top sets PATH, LANG, CMD and the recipe labels.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { DockerEngine, DockerError, jsonLines } from "./engine.ts";
import { buildFromEntries, type ProgressFn } from "./images.ts";

/** What goes into the image. Its canonical JSON is the cache key (with Node version and arch). */
export interface DebianRecipe {
  /** Debian release codename, e.g. "bookworm". */
  suite: string;
  /** Extra Debian packages (debootstrap `--include`), sorted and de-duplicated for the key. */
  packages: readonly string[];
  /** Copy the host's Node binary to /usr/local/bin/node. */
  node: boolean;
}

/**
 * Bumped whenever the steps above change in a way that changes the image (trim list, env,
 * variant), so images built by an older recipe are not reused.
 */
export const DEBIAN_RECIPE_VERSION = 1;
/** Paths (relative to the root) removed after installing: never read by a running service. */
const TRIM = ["var/cache/apt", "var/lib/apt/lists", "usr/share/man", "usr/share/info", "var/log"] as const;
const NODE_IN_IMAGE = "/usr/local/bin/node";
const ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEBIAN_LABEL = { recipe: "dev.roomservice.debian-recipe", packages: "dev.roomservice.debian-packages", suite: "dev.roomservice.debian-suite" } as const;

/** Ready-made recipes the CLI offers by name (`roomservice image build-debian --preset voice`). */
export const DEBIAN_PRESETS = {
  /** espeak-ng (speech synthesis) and PocketSphinx with its US English model (recognition). */
  voice: { tag: "roomservice/debian-voice:bookworm", suite: "bookworm", packages: ["espeak-ng", "pocketsphinx", "pocketsphinx-en-us"] },
} as const;

export interface BuildDebianOptions {
  /** Image tag to create, e.g. "roomservice/debian-voice:bookworm". */
  tag: string;
  /** Default: the host's release (VERSION_CODENAME in /etc/os-release), else "bookworm". */
  suite?: string;
  packages?: readonly string[];
  /** Default: the first Debian mirror in the host's apt sources, else http://deb.debian.org/debian. */
  mirror?: string;
  /** Default true. */
  node?: boolean;
  /** Node binary to copy; default the one running this process. */
  nodeBinary?: string;
  /** Rebuild even if an image of this recipe exists. */
  force?: boolean;
  /** Where downloaded .debs are kept between builds; default ~/.cache/roomservice/debootstrap. */
  cacheDir?: string;
  onProgress?: ProgressFn;
}

export interface DebianImageResult {
  tag: string;
  /** Image id (sha256:...). */
  id: string;
  /** The recipe's content hash (the `dev.roomservice.debian-recipe` label). */
  hash: string;
  /** True when an existing image of the same recipe was reused. */
  cached: boolean;
}

/** The build could not start or failed; `reason` says which step and why. */
export class DebianImageError extends Error {
  override name = "DebianImageError";
  /** "mirror_unreachable" lets callers (tests) tell a missing network from a broken recipe. */
  readonly code: "prerequisite" | "mirror_unreachable" | "debootstrap" | "node" | "import";
  constructor(code: DebianImageError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

/** The release codename of the host (e.g. "bookworm"), or null when it is not Debian-like. */
export function hostDebianSuite(osRelease = "/etc/os-release"): string | null {
  try {
    const m = /^VERSION_CODENAME=("?)([a-z]+)\1$/m.exec(readFileSync(osRelease, "utf8"));
    return m === null ? null : m[2];
  } catch {
    return null;
  }
}

/**
 * The Debian archive the host's apt uses (deb822 `debian.sources` or one-line
 * `sources.list`), skipping the security archive. Reusing it means the build reaches whatever
 * mirror or proxy this machine is configured for.
 */
export function hostDebianMirror(etcApt = "/etc/apt"): string | null {
  const candidates: string[] = [];
  const read = (p: string): string => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return "";
    }
  };
  for (const m of read(join(etcApt, "sources.list.d/debian.sources")).matchAll(/^URIs:\s*(\S+)/gm)) candidates.push(m[1]);
  for (const m of read(join(etcApt, "sources.list")).matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)) candidates.push(m[1]);
  return candidates.find((u) => /^https?:\/\//.test(u) && !/security/.test(u))?.replace(/\/+$/, "") ?? null;
}

/**
 * Whether `mirror` serves `dists/<suite>/InRelease`: null when it does, else why not. A quick
 * check before a multi-minute build, and what tests use to decide to skip (no network).
 */
export async function probeDebianMirror(mirror: string, suite: string, timeoutMs = 10_000): Promise<string | null> {
  const url = `${mirror}/dists/${suite}/InRelease`;
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? null : `${url} answered ${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return `${url} is unreachable (${cause?.code ?? cause?.message ?? (err as Error).message})`;
  }
}

/** The recipe's cache key: sha256 of its canonical JSON, the recipe version, Node and arch. */
export function debianRecipeHash(recipe: DebianRecipe, nodeVersion: string | null, arch = process.arch): string {
  const canonical = JSON.stringify({
    v: DEBIAN_RECIPE_VERSION,
    suite: recipe.suite,
    packages: [...new Set(recipe.packages)].sort(),
    node: recipe.node ? nodeVersion : null,
    arch,
    trim: TRIM,
  });
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/** Debian package names (policy §5.6.1): lowercase alphanumerics and + - . , at least 2 long. */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

/**
 * Builds (or reuses) a Debian image for a recipe. Needs root (debootstrap and chroot), the
 * `debootstrap` program, and the Debian mirror; throws {@link DebianImageError} otherwise.
 */
export async function buildDebianImage(docker: DockerEngine, o: BuildDebianOptions): Promise<DebianImageResult> {
  const progress = o.onProgress ?? (() => undefined);
  const suite = o.suite ?? hostDebianSuite() ?? "bookworm";
  // Checked in the caller's order, so the index in the message points at what they wrote.
  for (const [i, p] of (o.packages ?? []).entries()) {
    if (!PACKAGE_NAME.test(p)) throw new DebianImageError("prerequisite", `packages[${i}]: "${p}" is not a Debian package name (expected lowercase letters, digits, + - .)`);
  }
  const packages = [...new Set(o.packages ?? [])].sort();
  if (!/^[a-z]+$/.test(suite)) throw new DebianImageError("prerequisite", `suite: expected a Debian codename such as "bookworm", got "${suite}"`);
  const recipe: DebianRecipe = { suite, packages, node: o.node ?? true };
  const nodeBinary = realpathSync(o.nodeBinary ?? process.execPath);
  const nodeVersion = recipe.node ? await nodeVersionOf(nodeBinary) : null;
  const hash = debianRecipeHash(recipe, nodeVersion);

  if (o.force !== true) {
    const existing = await findByRecipe(docker, hash);
    if (existing !== null) {
      if (!existing.tags.includes(o.tag)) await tagImage(docker, existing.id, o.tag);
      progress(`${o.tag}: recipe ${hash} already built (${existing.id.slice(7, 19)}), nothing to do`);
      return { tag: o.tag, id: existing.id, hash, cached: true };
    }
  }

  await checkPrerequisites();
  const mirror = (o.mirror ?? hostDebianMirror() ?? "http://deb.debian.org/debian").replace(/\/+$/, "");
  const unreachable = await probeDebianMirror(mirror, suite);
  if (unreachable !== null) throw new DebianImageError("mirror_unreachable", `cannot build a Debian image: ${unreachable}; pass --mirror with a Debian mirror this machine reaches`);

  const cacheDir = o.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "roomservice", "debootstrap", `${suite}-${process.arch}`);
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), "rs-debian-"));
  // A private tmpfs: dpkg's fsync per file is free there, and one umount frees everything.
  const onTmpfs = (await run("mount", ["-t", "tmpfs", "-o", "size=3g,mode=0755", "tmpfs", work])).code === 0;
  const root = join(work, "rootfs");
  const started = Date.now();
  try {
    progress(`step 1/4: debootstrap ${suite} from ${mirror} (+ ${packages.join(", ") || "no extra packages"}) into ${onTmpfs ? "a tmpfs" : root}; .debs cached in ${cacheDir}`);
    const args = ["--variant=minbase", `--cache-dir=${cacheDir}`];
    if (packages.length > 0) args.push(`--include=${packages.join(",")}`);
    args.push(suite, root, mirror);
    const tail: string[] = [];
    const r = await run("debootstrap", args, (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      progress(`  ${line}`);
    });
    if (r.code !== 0) {
      const log = tail.join("\n");
      const code = /Failed getting release file|Couldn't download|Could not resolve|Connection refused|Temporary failure/i.test(log) ? "mirror_unreachable" : "debootstrap";
      throw new DebianImageError(code, `debootstrap exited with ${r.code}; its last lines:\n${log}`);
    }

    if (recipe.node) {
      progress(`step 2/4: Node ${nodeVersion} → ${NODE_IN_IMAGE}`);
      await mkdir(join(root, "usr/local/bin"), { recursive: true });
      await copyFile(nodeBinary, join(root, NODE_IN_IMAGE));
      await chmod(join(root, NODE_IN_IMAGE), 0o755);
      const check = await run("chroot", [root, NODE_IN_IMAGE, "-e", "process.stdout.write(process.version)"]);
      if (check.code !== 0 || check.out.trim() !== nodeVersion) {
        throw new DebianImageError("node", `Node does not run inside the Debian tree (exit ${check.code}): ${check.out.trim()} — its shared libraries may be missing from ${suite}`);
      }
    } else progress("step 2/4: no Node requested");

    progress(`step 3/4: trimming ${TRIM.join(", ")}`);
    for (const p of TRIM) {
      await rm(join(root, p), { recursive: true, force: true });
      await mkdir(join(root, p), { recursive: true });
    }

    progress(`step 4/4: importing into Docker as ${o.tag}`);
    const imported = await importTree(docker, root, progress);
    const labels: Record<string, string> = { [DEBIAN_LABEL.recipe]: hash, [DEBIAN_LABEL.packages]: packages.join(","), [DEBIAN_LABEL.suite]: suite };
    const dockerfile = [
      `FROM ${imported}`,
      `ENV PATH=${ENV_PATH} LANG=C.UTF-8`,
      `CMD ${JSON.stringify(recipe.node ? [NODE_IN_IMAGE] : ["/bin/bash"])}`,
      "",
    ].join("\n");
    const id = await buildFromEntries(docker, [{ name: "Dockerfile", mode: 0o644, type: "file", data: Buffer.from(dockerfile) }], o.tag, undefined, labels);
    await tagImage(docker, id, debianRecipeTag(hash));
    progress(`built ${o.tag} (recipe ${hash}) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return { tag: o.tag, id, hash, cached: false };
  } finally {
    // debootstrap mounts /proc and /sys inside the tree and may leave them on failure.
    await run("umount", ["-R", "-l", work]);
    await rm(work, { recursive: true, force: true });
  }
}

async function checkPrerequisites(): Promise<void> {
  if (process.platform !== "linux") throw new DebianImageError("prerequisite", "building a Debian image needs Linux (debootstrap and chroot)");
  if (process.getuid?.() !== 0) throw new DebianImageError("prerequisite", "building a Debian image needs root: debootstrap creates device nodes and chroots into the tree");
  const which = await run("sh", ["-c", "command -v debootstrap"]);
  if (which.code !== 0) throw new DebianImageError("prerequisite", "debootstrap is not installed: apt-get install debootstrap");
}

/** Streams `tar` of the tree into POST /images/create?fromSrc=-; resolves with the image id. */
async function importTree(docker: DockerEngine, root: string, progress: ProgressFn): Promise<string> {
  // /dev, /proc and /sys are provided by the container runtime; their contents do not belong in a layer.
  const tar = spawn("tar", ["--numeric-owner", "-C", root, "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-cf", "-", "."], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tarErr = "";
  tar.stderr.on("data", (d: Buffer) => (tarErr = (tarErr + d.toString()).slice(-2000)));
  const tarDone = new Promise<number | null>((resolve) => tar.on("close", resolve));
  let sent = 0;
  let reported = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      if (sent - reported >= 64 << 20) {
        reported = sent;
        progress(`  sent ${(sent / 1e6).toFixed(0)} MB`);
      }
      cb(null, chunk);
    },
  });
  tar.stdout.pipe(counter);
  let id = "";
  try {
    const res = await docker.raw({ method: "POST", path: "/images/create", query: { fromSrc: "-" }, stream: counter, contentType: "application/x-tar", long: true });
    for await (const msg of jsonLines(res)) {
      if (typeof msg.error === "string") throw new DebianImageError("import", `docker import failed: ${msg.error}`);
      // The last status line of an import is the new image's id.
      if (typeof msg.status === "string" && /^sha256:[0-9a-f]{64}$/.test(msg.status.trim())) id = msg.status.trim();
    }
  } catch (err) {
    tar.kill();
    if (err instanceof DebianImageError) throw err;
    throw new DebianImageError("import", `docker import failed: ${(err as Error).message}`);
  }
  const code = await tarDone;
  if (code !== 0) throw new DebianImageError("import", `tar of the Debian tree exited with ${code}: ${tarErr.trim()}`);
  if (id === "") throw new DebianImageError("import", "docker import did not report an image id");
  progress(`  imported ${(sent / 1e6).toFixed(0)} MB as ${id.slice(7, 19)}`);
  return id;
}

/** The tag that names a recipe's image for good: `roomservice/debian-recipe:<hash>`. */
export function debianRecipeTag(hash: string): string {
  return `roomservice/debian-recipe:${hash}`;
}

/**
 * The image of a recipe, found by its recipe tag. Not by the label: images built FROM the
 * base inherit its labels (and so do the build's intermediate images), so a label filter
 * also finds every service image on top of it; tags are not inherited.
 */
async function findByRecipe(docker: DockerEngine, hash: string): Promise<{ id: string; tags: string[] } | null> {
  try {
    const img = await docker.json<{ Id: string; RepoTags?: string[] | null; Config?: { Labels?: Record<string, string> | null } }>({ method: "GET", path: `/images/${encodeURIComponent(debianRecipeTag(hash))}/json` });
    return img.Config?.Labels?.[DEBIAN_LABEL.recipe] === hash ? { id: img.Id, tags: img.RepoTags ?? [] } : null;
  } catch (err) {
    if (err instanceof DockerError && err.status === 404) return null;
    throw err;
  }
}

async function tagImage(docker: DockerEngine, id: string, tag: string): Promise<void> {
  const colon = tag.lastIndexOf(":");
  const hasTag = colon > tag.lastIndexOf("/");
  const repo = hasTag ? tag.slice(0, colon) : tag;
  try {
    await docker.json({ method: "POST", path: `/images/${encodeURIComponent(id)}/tag`, query: { repo, tag: hasTag ? tag.slice(colon + 1) : "latest" } });
  } catch (err) {
    if (err instanceof DockerError) throw new DebianImageError("import", `tagging ${id} as ${tag} failed: ${err.message}`);
    throw err;
  }
}

async function nodeVersionOf(bin: string): Promise<string> {
  if (bin === realpathSync(process.execPath)) return process.version;
  const r = await run(bin, ["--version"]);
  if (r.code !== 0) throw new DebianImageError("node", `${bin} --version failed: ${r.out.trim()}`);
  return r.out.trim();
}

/** Runs a program; stdout and stderr are merged, handed out line by line and returned. */
function run(cmd: string, args: string[], onLine?: (line: string) => void): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    if (cmd !== "sh" && cmd.startsWith("/") && !existsSync(cmd)) {
      resolve({ code: 127, out: `${cmd}: not found` });
      return;
    }
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" } });
    let out = "";
    let partial = "";
    const onData = (d: Buffer) => {
      const s = d.toString();
      out = (out + s).slice(-64_000);
      if (onLine === undefined) return;
      partial += s;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) if (l.trim() !== "") onLine(l.trimEnd());
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (err) => resolve({ code: 127, out: `${cmd}: ${err.message}` }));
    child.on("close", (code) => {
      if (onLine !== undefined && partial.trim() !== "") onLine(partial.trimEnd());
      resolve({ code, out });
    });
  });
}
