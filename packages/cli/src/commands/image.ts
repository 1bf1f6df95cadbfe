import type { Command } from "commander";
import { resolve } from "node:path";
import { existsSync } from "node:fs";
import { DockerEngine, buildBaseImage, buildImage, BASE_IMAGE } from "@roomservice/runtime";
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
}
