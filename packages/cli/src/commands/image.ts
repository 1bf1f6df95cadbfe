import type { Command } from "commander";
import { resolve } from "node:path";
import { existsSync } from "node:fs";
import { DockerEngine, buildBaseImage, buildImage, buildDebianImage, hostDebianMirror, hostDebianSuite, DebianImageError, DEBIAN_PRESETS, BASE_IMAGE } from "@roomservice/runtime";
import { CliError } from "../options.ts";

async function engine(): Promise<DockerEngine> {
  const docker = new DockerEngine();
  try {
    await docker.ping();
  } catch (err) {
    throw new CliError(`Docker is not reachable (${(err as Error).message}); start dockerd first`);
  }
  return docker;
}

export function registerImage(program: Command): void {
  const img = program.command("image").description("build service images locally (no registry needed)");
  img
    .command("build-base")
    .description(`build ${BASE_IMAGE}: the Node 24 binary and its libraries, FROM scratch`)
    .option("--force", "rebuild even if it is current")
    .action(async (o: { force?: boolean }) => {
      const docker = await engine();
      await buildBaseImage(docker, { force: o.force === true, onProgress: (l: string) => process.stdout.write(l.endsWith("\n") ? l : l + "\n") });
      process.stdout.write(`built ${BASE_IMAGE}\n`);
    });
  img
    .command("build <dir>")
    .description("build a service image from a directory with a Dockerfile (FROM roomservice/node:24 works offline)")
    .requiredOption("-t, --tag <tag>", "image tag, e.g. my-agent:1")
    .action(async (dir: string, o: { tag: string }) => {
      const abs = resolve(dir);
      if (!existsSync(resolve(abs, "Dockerfile"))) throw new CliError(`${abs} has no Dockerfile`);
      const docker = await engine();
      await buildImage(docker, abs, o.tag, (l: string) => process.stdout.write(l.endsWith("\n") ? l : l + "\n"));
      process.stdout.write(`built ${o.tag}\n`);
    });
  img
    .command("build-debian")
    .description("build a Debian base image with debootstrap (Debian packages + Node 24, no registry); cached by recipe hash")
    .option("--preset <name>", `a ready recipe: ${Object.keys(DEBIAN_PRESETS).join(", ")} (sets --tag, --suite and --packages)`)
    .option("-t, --tag <tag>", "image tag (default: the preset's, else roomservice/debian:<suite>)")
    .option("--packages <list>", "comma-separated Debian packages to install (debootstrap --include)")
    .option("--suite <codename>", `Debian release (default: the host's, ${hostDebianSuite() ?? "bookworm"})`)
    .option("--mirror <url>", `Debian mirror (default: the host's apt source, ${hostDebianMirror() ?? "http://deb.debian.org/debian"})`)
    .option("--no-node", "do not copy Node into the image")
    .option("--cache-dir <dir>", "keep downloaded .debs here (default ~/.cache/roomservice/debootstrap)")
    .option("--force", "rebuild even if an image of the same recipe exists (picks up Debian updates)")
    .action(async (o: { preset?: string; tag?: string; packages?: string; suite?: string; mirror?: string; node: boolean; cacheDir?: string; force?: boolean }) => {
      let preset: (typeof DEBIAN_PRESETS)[keyof typeof DEBIAN_PRESETS] | undefined;
      if (o.preset !== undefined) {
        if (!Object.hasOwn(DEBIAN_PRESETS, o.preset)) throw new CliError(`--preset: unknown preset "${o.preset}" (expected one of: ${Object.keys(DEBIAN_PRESETS).join(", ")})`);
        preset = DEBIAN_PRESETS[o.preset as keyof typeof DEBIAN_PRESETS];
      }
      const suite = o.suite ?? preset?.suite ?? hostDebianSuite() ?? "bookworm";
      const extra = (o.packages ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "");
      const packages = [...(preset?.packages ?? []), ...extra];
      const tag = o.tag ?? preset?.tag ?? `roomservice/debian:${suite}`;
      const docker = await engine();
      try {
        const r = await buildDebianImage(docker, {
          tag, suite, packages, node: o.node, force: o.force === true,
          ...(o.mirror === undefined ? {} : { mirror: o.mirror }),
          ...(o.cacheDir === undefined ? {} : { cacheDir: resolve(o.cacheDir) }),
          onProgress: (l: string) => process.stdout.write(l.endsWith("\n") ? l : l + "\n"),
        });
        process.stdout.write(`${r.cached ? "up to date" : "built"}: ${r.tag} (recipe ${r.hash})\n`);
      } catch (err) {
        if (err instanceof DebianImageError) throw new CliError(err.message);
        throw err;
      }
    });
}
