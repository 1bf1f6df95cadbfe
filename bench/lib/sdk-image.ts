/**
 * The image the room-start figures run: Node (roomservice/node:24) + the @meshagent/meshagent
 * SDK + bench/images/sdk-service/service.mjs. Tagged with a hash of its context (service
 * file, Dockerfile, SDK version), so an unchanged image is built once per Docker host.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildBaseImage, buildImage, imageExists, type DockerEngine } from "@roomservice/runtime";
import { BENCH_DIR, ROOT_DIR } from "./proc.ts";

const CONTEXT = join(BENCH_DIR, "images", "sdk-service");
const SDK = "@meshagent/meshagent";

/** The tag of the SDK service image for the current sources. */
export function sdkServiceTag(): string {
  const h = createHash("sha256");
  for (const f of ["Dockerfile", "service.mjs"]) h.update(f).update(readFileSync(join(CONTEXT, f)));
  h.update(readFileSync(join(ROOT_DIR, "node_modules", SDK, "package.json")));
  return `roomservice-bench/sdk-service:${h.digest("hex").slice(0, 12)}`;
}

/** Copies a package and its runtime dependencies (from the repo's node_modules) into dest. */
async function copyPackageClosure(name: string, dest: string, seen = new Set<string>()): Promise<void> {
  if (seen.has(name)) return;
  seen.add(name);
  const src = join(ROOT_DIR, "node_modules", name);
  if (!existsSync(src)) return;
  await mkdir(dirname(join(dest, name)), { recursive: true });
  await cp(src, join(dest, name), { recursive: true, dereference: true });
  const pkg = JSON.parse(await readFile(join(src, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(pkg.dependencies ?? {})) await copyPackageClosure(dep, dest, seen);
}

/** Builds the base image and the SDK service image unless they exist; returns the tag. */
export async function ensureSdkServiceImage(docker: DockerEngine): Promise<string> {
  const tag = sdkServiceTag();
  await buildBaseImage(docker);
  if (await imageExists(docker, tag)) return tag;
  const work = await mkdtemp(join(tmpdir(), "rs-bench-sdk-image-"));
  try {
    await cp(CONTEXT, work, { recursive: true });
    await copyPackageClosure(SDK, join(work, "node_modules"));
    await buildImage(docker, work, tag);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return tag;
}
