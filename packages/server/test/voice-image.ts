/**
 * The examples/voice image for tests: the Debian base image (debootstrap, cached by recipe
 * hash) and the service image FROM it, tagged by a hash of the example's files. Shared by the
 * voice example's test and Studio's microphone test.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildDebianImage, buildImage, imageExists, DebianImageError, DEBIAN_PRESETS, type DockerEngine } from "@roomservice/runtime";
import { copyPackageClosure } from "./services-env.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const exampleDir = join(root, "examples", "voice");

/** Hash of every file of the example (lib/ included, node_modules not), the SDK version and the base image. */
function contextHash(baseId: string): string {
  const h = createHash("sha256").update(baseId);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (name === "node_modules") continue;
      if (statSync(p).isDirectory()) walk(p);
      else h.update(relative(exampleDir, p)).update(readFileSync(p));
    }
  };
  walk(exampleDir);
  h.update(readFileSync(join(root, "node_modules/@meshagent/meshagent/package.json")));
  // agent-kit is a workspace package: its sources change without a version bump.
  const kit = join(root, "packages/agent-kit/src");
  for (const f of readdirSync(kit).sort()) h.update(f).update(readFileSync(join(kit, f)));
  return h.digest("hex").slice(0, 12);
}

/**
 * Builds (or finds) the voice image; returns its tag, or `{skip}` with the reason when
 * Debian's mirror cannot be reached for a first build. `log` gets the build's progress lines.
 */
export async function buildVoiceImage(docker: DockerEngine, log: (l: string) => void): Promise<string | { skip: string }> {
  const preset = DEBIAN_PRESETS.voice;
  let base;
  try {
    base = await buildDebianImage(docker, { tag: preset.tag, suite: preset.suite, packages: preset.packages, onProgress: log });
  } catch (err) {
    if (err instanceof DebianImageError && err.code === "mirror_unreachable") return { skip: `Debian's mirror is unreachable, so the voice base image cannot be built: ${err.message}` };
    throw err;
  }
  const tag = `roomservice-example/voice:${contextHash(base.id)}`;
  if (await imageExists(docker, tag)) return tag;
  const ctx = await mkdtemp(join(tmpdir(), "rs-voice-ctx-"));
  try {
    await cp(exampleDir, ctx, { recursive: true, filter: (src) => !src.includes("/node_modules") });
    for (const dep of ["@meshagent/meshagent", "@roomservice/agent-kit"]) await copyPackageClosure(dep, join(ctx, "node_modules"));
    await buildImage(docker, ctx, tag, log);
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  return tag;
}
