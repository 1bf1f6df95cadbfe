/**
 * The example services' images (examples/<dir>), built locally FROM roomservice/node:24 with
 * no registry: the recipe the test suite and the demo project share. Each build is tagged
 * `roomservice-example/<dir>:<hash of its context>`, so an unchanged example is never built
 * twice on a machine; the demo's manifests name a stable tag (`roomservice-demo/<dir>:latest`)
 * that is pointed at the current build on first use.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { buildBaseImage, buildDebianImage, buildImage, imageExists, DockerError, DEBIAN_PRESETS, type DockerEngine } from "@roomservice/runtime";
import type { ImagePreparer } from "../services/image-preparer.ts";

/** The repository's root (examples/ and node_modules/ live there). */
export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/** Repository of the content-addressed example builds (shared with the test suite). */
export const EXAMPLE_REPO = "roomservice-example";
/** Repository of the demo's stable tags. */
export const DEMO_REPO = "roomservice-demo";

/** The npm dependencies an example's package.json names (copied into its image's node_modules). */
export function exampleDependencies(root: string, dir: string): string[] {
  const file = join(root, "examples", dir, "package.json");
  if (!existsSync(file)) return [];
  return Object.keys((JSON.parse(readFileSync(file, "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {});
}

/**
 * A hash (12 hex digits) of what goes into an example's image: its files, subfolders included
 * (not a local node_modules/), the versions of its npm dependencies in the repo's
 * node_modules, the sources of workspace packages (@roomservice/*), which change without a
 * version bump, and `salt` (the id of a base image built here, e.g. voice's Debian base).
 */
export function exampleContextHash(root: string, dir: string, salt = ""): string {
  const h = createHash("sha256");
  const walk = (abs: string, rel: string): void => {
    for (const e of readdirSync(abs, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isFile()) h.update(rel + e.name).update(readFileSync(join(abs, e.name)));
      else if (e.isDirectory() && e.name !== "node_modules") walk(join(abs, e.name), `${rel}${e.name}/`);
    }
  };
  walk(join(root, "examples", dir), "");
  if (salt !== "") h.update(salt);
  const deps = exampleDependencies(root, dir);
  for (const dep of deps) h.update(readFileSync(join(root, "node_modules", dep, "package.json")));
  for (const dep of deps.filter((d) => d.startsWith("@roomservice/"))) {
    const src = join(root, "node_modules", dep, "src");
    for (const f of readdirSync(src).sort()) h.update(f).update(readFileSync(join(src, f)));
  }
  return h.digest("hex").slice(0, 12);
}

/** `roomservice-example/<dir>:<hash>` (or another repository). */
export function exampleImageTag(root: string, dir: string, repo = EXAMPLE_REPO, salt = ""): string {
  return `${repo}/${dir}:${exampleContextHash(root, dir, salt)}`;
}

/** Copies a package and its runtime dependencies (from the repo's node_modules) into dest. */
export async function copyPackageClosure(root: string, name: string, dest: string, seen = new Set<string>()): Promise<void> {
  if (seen.has(name)) return;
  seen.add(name);
  const src = join(root, "node_modules", name);
  if (!existsSync(src)) return;
  await mkdir(dirname(join(dest, name)), { recursive: true });
  await cp(src, join(dest, name), { recursive: true, dereference: true });
  const pkg = JSON.parse(await readFile(join(src, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies ?? {})) await copyPackageClosure(root, dep, dest, seen);
}

/**
 * Builds the base image (when missing or of another Node version) and then `examples/<dir>`
 * as `tag` unless that tag exists: the example's files plus its npm dependencies copied from
 * the repo's node_modules (no registry). `onProgress` gets the build's output lines.
 */
export async function buildExampleImage(docker: DockerEngine, o: { root: string; dir: string; tag: string; onProgress?: (line: string) => void }): Promise<void> {
  await buildBaseImage(docker, o.onProgress === undefined ? {} : { onProgress: o.onProgress });
  if (await imageExists(docker, o.tag)) return;
  const work = await mkdtemp(join(tmpdir(), "rs-example-"));
  try {
    const ctx = join(work, o.dir);
    await cp(join(o.root, "examples", o.dir), ctx, { recursive: true, filter: (src) => !src.includes("/node_modules") });
    for (const dep of exampleDependencies(o.root, o.dir)) await copyPackageClosure(o.root, dep, join(ctx, "node_modules"));
    await buildImage(docker, ctx, o.tag, o.onProgress);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Image id of a tag, or null when it does not exist. */
async function imageId(docker: DockerEngine, tag: string): Promise<string | null> {
  try {
    return (await docker.json<{ Id: string }>({ method: "GET", path: `/images/${encodeURIComponent(tag)}/json` })).Id;
  } catch (err) {
    if (err instanceof DockerError && err.status === 404) return null;
    throw err;
  }
}

export interface ExampleImagesOptions {
  docker: DockerEngine;
  logger: Logger;
  root?: string;
  /** The examples this preparer builds (directories under examples/ FROM roomservice/node:24). */
  examples: readonly string[];
  /** Repository of the stable tags services name (default roomservice-demo). */
  repo?: string;
  /** Repository of the content-addressed builds (default roomservice-example, shared with the tests). */
  buildRepo?: string;
  /**
   * Examples FROM a Debian base image built here with debootstrap (minutes on first use):
   * example → recipe. Default: voice → the `voice` preset.
   */
  debianBases?: Record<string, { tag: string; suite: string; packages: readonly string[] }>;
}

/**
 * The ImagePreparer for the demo: `<repo>/<example>:latest` is made on first use by building
 * the example (when its current content-addressed build is missing) and tagging that build.
 * One build per example at a time: a session start and the start-up warm-up share it.
 */
export class ExampleImages implements ImagePreparer {
  private readonly o: Required<Omit<ExampleImagesOptions, "logger">> & { logger: Logger };
  private readonly inFlight = new Map<string, { promise: Promise<void>; listeners: Set<(line: string) => void> }>();

  constructor(o: ExampleImagesOptions) {
    this.o = { root: REPO_ROOT, repo: DEMO_REPO, buildRepo: EXAMPLE_REPO, debianBases: { voice: DEBIAN_PRESETS.voice }, ...o, logger: o.logger.child({ component: "demo-images" }) };
  }

  /** The stable tag a service names for `example` (`roomservice-demo/chat-agent:latest`). */
  tagFor(example: string): string {
    return `${this.o.repo}/${example}:latest`;
  }

  prepare(image: string, onProgress: (line: string) => void): Promise<void> | null {
    const example = this.o.examples.find((e) => this.tagFor(e) === image);
    if (example === undefined) return null;
    let job = this.inFlight.get(example);
    if (job === undefined) {
      const listeners = new Set<(line: string) => void>();
      const promise = this.make(example, (line) => {
        for (const l of listeners) l(line);
      }).finally(() => this.inFlight.delete(example));
      this.inFlight.set(example, (job = { promise, listeners }));
    } else {
      // Joining a build under way (the start-up warm-up): say so, so the caller shows it is building.
      onProgress(`waiting for the build of ${image} already under way`);
    }
    const listeners = job.listeners;
    listeners.add(onProgress);
    return job.promise.finally(() => listeners.delete(onProgress));
  }

  /** Makes these examples' images now (default: all), one after the other (start-up warm-up); logs progress. */
  async warm(examples: readonly string[] = this.o.examples): Promise<void> {
    for (const example of examples) {
      const started = Date.now();
      let built = false;
      try {
        await this.prepare(this.tagFor(example), (line) => {
          if (!built) this.o.logger.info({ image: this.tagFor(example) }, `demo: building image ${this.tagFor(example)} (first use)`);
          built = true;
          this.o.logger.debug({ image: this.tagFor(example) }, line);
        });
        if (built) this.o.logger.info({ image: this.tagFor(example), ms: Date.now() - started }, `demo: image ${this.tagFor(example)} ready`);
      } catch (err) {
        this.o.logger.warn({ image: this.tagFor(example), err: (err as Error).message }, `demo: could not build image ${this.tagFor(example)}`);
      }
    }
  }

  private async make(example: string, onProgress: (line: string) => void): Promise<void> {
    const { docker, root } = this.o;
    let salt = "";
    const debian = this.o.debianBases[example];
    if (debian !== undefined) {
      // A cached base reports one "nothing to do" line: forward only a real build's steps.
      let building = false;
      const base = await buildDebianImage(docker, {
        tag: debian.tag, suite: debian.suite, packages: [...debian.packages],
        onProgress: (line) => {
          building ||= line.startsWith("step ");
          if (building) onProgress(line);
        },
      });
      salt = base.id;
    }
    const build = exampleImageTag(root, example, this.o.buildRepo, salt);
    const stable = this.tagFor(example);
    const [buildId, stableId] = await Promise.all([imageId(docker, build), imageId(docker, stable)]);
    if (buildId !== null && buildId === stableId) return;
    if (buildId === null) {
      onProgress(`building ${build} from examples/${example}`);
      await buildExampleImage(docker, { root, dir: example, tag: build, onProgress });
    }
    const [repo, tag] = [stable.slice(0, stable.lastIndexOf(":")), stable.slice(stable.lastIndexOf(":") + 1)];
    await docker.json({ method: "POST", path: `/images/${encodeURIComponent(build)}/tag`, query: { repo, tag } });
    if (buildId === null) onProgress(`tagged ${build} as ${stable}`);
  }
}
