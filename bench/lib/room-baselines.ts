/**
 * The baselines of the room-start figures (bench/figures/rooms.ts): the same N service
 * containers started without Roomservice.
 *
 *   raw:     straight through the Docker Engine API — a pause container, then N services
 *            joined to its network namespace, created and started in parallel; done when each
 *            accepts TCP on its port (polled every 10 ms from inside the namespace with the
 *            same helper Roomservice's probes use).
 *   compose: what a user would otherwise run: `docker-compose up` (Debian's docker-compose)
 *            of a file declaring the same pause container and services; done when compose's
 *            output shows every service's "listening" line.
 *
 * Every container carries the benchmark's owner label, so the figure's clean-up (reapOrphans)
 * removes whatever a crashed run left.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HelperSpawnLimit, NetnsProber, PAUSE_IMAGE, type DockerEngine } from "@roomservice/runtime";
import { quietLogger } from "./docker-env.ts";
import { containerCpuMs, daemonsCpuMs, selfCpuMs } from "./cpu-accounting.ts";

/** CPU ms spent during a start: this process, dockerd + containerd, the containers' cgroups. */
export interface StartCpu {
  self: number;
  daemons: number;
  containers: number;
}

export interface BaselineRun {
  /** From the first API call (or spawning compose) until every service listens, ms. */
  startMs: number;
  /** Until every service's process runs (its start call returned): Docker's share of startMs. */
  launchedMs: number;
  cpu: StartCpu;
  /** `docker stop` (grace 10 s) + `rm` of the services, then the pause container, ms. */
  endMs: number;
}

const OWNER_LABEL = "dev.roomservice.owner";
const port = (i: number) => 8080 + i;

/** Stops and removes containers as a script would: every service in parallel, then the pause container. */
export async function stopAndRemove(docker: DockerEngine, services: string[], pause: string): Promise<number> {
  const t0 = performance.now();
  await Promise.all(services.map(async (id) => {
    await docker.json({ method: "POST", path: `/containers/${id}/stop`, query: { t: 10 } });
    await docker.json({ method: "DELETE", path: `/containers/${id}`, query: { force: 1 } });
  }));
  await docker.json({ method: "DELETE", path: `/containers/${pause}`, query: { force: 1 } });
  return performance.now() - t0;
}

/** Baseline (a): pause + N services through the Engine API, in parallel, until each listens. */
export async function rawEngineRun(docker: DockerEngine, o: { image: string; n: number; owner: string; tag: string }): Promise<BaselineRun> {
  const labels = { [OWNER_LABEL]: o.owner, "dev.roomservice.role": "bench-baseline" };
  const t0 = performance.now();
  const self0 = selfCpuMs();
  const daemons0 = daemonsCpuMs();
  const { Id: pause } = await docker.json<{ Id: string }>({
    method: "POST", path: "/containers/create", query: { name: `bench-pause-${o.tag}` },
    body: { Image: PAUSE_IMAGE, Labels: labels, HostConfig: { NetworkMode: "none", Init: true, ReadonlyRootfs: true } },
  });
  await docker.json({ method: "POST", path: `/containers/${pause}/start` });
  const info = await docker.json<{ NetworkSettings: { SandboxKey: string } }>({ method: "GET", path: `/containers/${pause}/json` });
  const prober = new NetnsProber(info.NetworkSettings.SandboxKey, quietLogger, new HelperSpawnLimit());
  prober.warm();
  let ids: string[] = [];
  let launchedMs = NaN;
  try {
    ids = await Promise.all(
      Array.from({ length: o.n }, async (_, i) => {
        const { Id } = await docker.json<{ Id: string }>({
          method: "POST", path: "/containers/create", query: { name: `bench-svc-${o.tag}-${i}` },
          body: {
            Image: o.image, Env: [`PORT=${port(i)}`], Labels: labels,
            HostConfig: { NetworkMode: `container:${pause}`, Init: true, ReadonlyRootfs: true },
          },
        });
        await docker.json({ method: "POST", path: `/containers/${Id}/start` });
        return Id;
      }),
    );
    launchedMs = performance.now() - t0;
    const ready = new Set<number>();
    const deadline = Date.now() + 60_000;
    while (ready.size < o.n) {
      if (Date.now() > deadline) throw new Error(`raw baseline: only ${ready.size} of ${o.n} services listened within 60 s`);
      await Promise.all(
        Array.from({ length: o.n }, async (_, i) => {
          if (ready.has(i)) return;
          if ((await prober.check({ kind: "tcp", port: port(i) }, 1000)).ok) ready.add(i);
        }),
      );
      if (ready.size < o.n) await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    prober.close();
  }
  const startMs = performance.now() - t0;
  const cpu = { self: selfCpuMs() - self0, daemons: daemonsCpuMs() - daemons0, containers: ids.reduce((a, id) => a + containerCpuMs(id), 0) };
  return { startMs, launchedMs, cpu, endMs: await stopAndRemove(docker, ids, pause) };
}

/** The compose file of baseline (b): the same pause container and services. */
function composeFile(o: { image: string; n: number; owner: string }): string {
  const lines = [
    'version: "2.4"',
    "services:",
    "  pause:",
    `    image: ${PAUSE_IMAGE}`,
    "    network_mode: none",
    "    init: true",
    "    read_only: true",
    `    labels: { ${OWNER_LABEL}: "${o.owner}" }`,
  ];
  for (let i = 0; i < o.n; i++) {
    lines.push(
      `  svc${i}:`,
      `    image: ${o.image}`,
      '    network_mode: "service:pause"',
      "    init: true",
      "    read_only: true",
      `    environment: { PORT: "${port(i)}" }`,
      `    labels: { ${OWNER_LABEL}: "${o.owner}" }`,
    );
  }
  return lines.join("\n") + "\n";
}

function runCompose(dir: string, project: string, args: string[], onLine?: (l: string) => void): { done: Promise<number>; kill(): void } {
  const child = spawn("docker-compose", ["-p", project, "-f", join(dir, "compose.yaml"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let buf = "";
  let err = "";
  child.stdout.on("data", (c: Buffer) => {
    buf += c.toString("utf8");
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine?.(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  child.stderr.on("data", (c: Buffer) => {
    if (err.length < 8192) err += c.toString("utf8");
  });
  const done = new Promise<number>((resolve, reject) => {
    child.on("error", (e) => reject(new Error(`docker-compose could not run (apt-get install docker-compose): ${e.message}`)));
    child.on("exit", (code) => (code === 0 || onLine !== undefined ? resolve(code ?? -1) : reject(new Error(`docker-compose ${args[0]} exited ${code}: ${err.trim().slice(-500)}`))));
  });
  return { done, kill: () => child.kill("SIGKILL") };
}

/** Baseline (b): `docker-compose up` in the foreground until every service printed "listening". */
export async function composeRun(o: { image: string; n: number; owner: string; tag: string }): Promise<{ startMs: number; downMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), "rs-bench-compose-"));
  const project = `rsbench${o.tag.replace(/[^a-z0-9]/g, "")}`;
  try {
    await writeFile(join(dir, "compose.yaml"), composeFile(o));
    const seen = new Set<string>();
    let resolveAll!: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    const t0 = performance.now();
    const up = runCompose(dir, project, ["up", "--no-color"], (line) => {
      const m = /^\s*(\S+?)\s*\|\s*listening on (\d+)/.exec(line);
      if (m !== null) seen.add(m[2]!);
      if (seen.size === o.n) resolveAll();
    });
    const exited = up.done.then((code) => {
      throw new Error(`docker-compose up exited (${code}) before every service listened (${seen.size} of ${o.n})`);
    });
    const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error("compose baseline: not ready within 60 s")), 60_000).unref());
    await Promise.race([all, exited, timeout]);
    const startMs = performance.now() - t0;
    exited.catch(() => undefined);
    const t1 = performance.now();
    await runCompose(dir, project, ["down", "-t", "10"]).done;
    const downMs = performance.now() - t1;
    up.kill();
    return { startMs, downMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
