import type { Command } from "commander";
import { existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { parsePublicUrl, startRoomServer, selectRuntime, parseRuntimeMode, helperSpawnConfigFromEnv, DataDirLockedError, StoreOpenError, DEFAULT_PORT, DEFAULT_HOST, type RoomServer, type ClusterOptions } from "@roomservice/server";
import { ExampleImages, setUpDemo, DEMO_EXAMPLES, DEMO_ROOM, DEMO_VOICE, REPO_ROOT } from "@roomservice/server";
import type { DockerEngine } from "@roomservice/runtime";
import { createLogger } from "../logger.ts";
import { parseIntOption, CliError } from "../options.ts";
import { ACCESS_FILE, readAccessFile, writeAccessFile } from "../remote/target.ts";
import { databaseUrlFrom, DATABASE_OPTION } from "./common.ts";

/** Name of the API key `serve` writes to <data>/cli-access.json (see writeLocalAccess). */
export const LOCAL_CLI_KEY = "local-cli";

/**
 * Writes <data>/cli-access.json so `roomservice room …` run on this machine needs no setup.
 * The `local-cli` key in it is kept across restarts while it still verifies (so a follower
 * such as `room logs -f` resumes after a restart); otherwise every old `local-cli` key is
 * revoked and a new one made.
 */
async function writeLocalAccess(server: RoomServer, dataDir: string): Promise<string> {
  const projectId = server.ctx.projectId;
  let previous: ReturnType<typeof readAccessFile> = null;
  try {
    previous = readAccessFile(join(dataDir, ACCESS_FILE));
  } catch {
    // damaged: replaced below
  }
  const valid = previous === null ? undefined : await server.apiKeys.verify(previous.api_key);
  let key: string;
  if (previous !== null && valid !== undefined && valid.name === LOCAL_CLI_KEY && valid.project === projectId) {
    key = previous.api_key;
  } else {
    for (const k of await server.apiKeys.list(projectId)) if (k.name === LOCAL_CLI_KEY) await server.apiKeys.delete(k.id);
    key = (await server.apiKeys.create(projectId, LOCAL_CLI_KEY, Date.now())).key;
  }
  return writeAccessFile(dataDir, { url: server.url, project_id: projectId, api_key: key, pid: process.pid, written_at: new Date().toISOString() });
}

/**
 * Beyond the longest service grace period, how long shutdown may take before the process exits
 * anyway: removing prepared rooms' held containers and the namespace pool takes seconds on a
 * loaded machine (2 s was exceeded with no session live). A second Ctrl-C still exits at once.
 */
const SHUTDOWN_SLACK_MS = 10_000;

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("start the room server (WebSocket Room API, REST and Studio) on embedded defaults")
    .option("--port <n>", `port to listen on (env ROOMSERVICE_PORT, default ${DEFAULT_PORT})`)
    .option("--host <h>", `address to bind (env ROOMSERVICE_HOST, default ${DEFAULT_HOST})`)
    .option("--data <dir>", "data directory (env ROOMSERVICE_DATA, default ./.roomservice)")
    .option("--departure-timeout <seconds>", "seconds a session outlives its last participant (default 15)")
    .option(...DATABASE_OPTION)
    .option("--runtime <mode>", "auto | docker | sandbox | kubernetes | podman | none (env ROOMSERVICE_RUNTIME, default auto: Docker when reachable, else the sandbox; kubernetes and podman only when asked, see docs/scaling.md)")
    .option("--cluster", "join a cluster of nodes sharing --database (PostgreSQL) and --shared-dir (env ROOMSERVICE_CLUSTER=1; docs/scaling.md)")
    .option("--shared-dir <dir>", "room storage every node shares (env ROOMSERVICE_SHARED_DIR); required with --cluster")
    .option("--advertise-url <url>", "URL other nodes reach this one at (env ROOMSERVICE_ADVERTISE_URL, default the listening address)")
    .option("--lease-ttl <seconds>", "room lease lifetime: a dead node's rooms move within this bound (env ROOMSERVICE_LEASE_TTL, default 10)")
    .option("--public-url <url>", "base URL clients reach the server at, e.g. https://rooms.example.com behind a TLS proxy; used in every URL handed out (env ROOMSERVICE_PUBLIC_URL, default from the Host header with http/ws)")
    .option("--no-demo", "do not set up the demo room (env ROOMSERVICE_DEMO=0; a cluster sets it up once, recorded in its database)")
    .option("--demo-voice", "add the voice example to the demo room (its Debian image takes minutes to build on first use; env ROOMSERVICE_DEMO_VOICE=1)")
    .action(async (o: ServeFlags) => {
      const port = parseIntOption("--port", o.port ?? process.env.ROOMSERVICE_PORT ?? String(DEFAULT_PORT), 0, 65535);
      const host = o.host ?? process.env.ROOMSERVICE_HOST ?? DEFAULT_HOST;
      const dataDir = resolve(o.data ?? process.env.ROOMSERVICE_DATA ?? ".roomservice");
      const created = !existsSync(dataDir);
      // Cheap preconditions first: a bad flag or a taken port must not leave a new data
      // directory behind. Whatever fails later removes the directory this run created.
      const departure = o.departureTimeout === undefined ? undefined : parseIntOption("--departure-timeout", o.departureTimeout, 0, 86400) * 1000;
      const cluster = clusterOptions(o);
      let mode;
      try {
        mode = parseRuntimeMode(o.runtime ?? process.env.ROOMSERVICE_RUNTIME);
      } catch (err) {
        throw new CliError(`--runtime: ${(err as Error).message}`);
      }
      const poolSize = process.env.ROOMSERVICE_ROOM_POOL === undefined ? undefined : parseIntOption("ROOMSERVICE_ROOM_POOL", process.env.ROOMSERVICE_ROOM_POOL, 0, 64);
      const maxBodyBytes = process.env.ROOMSERVICE_MAX_BODY_BYTES === undefined ? undefined : parseIntOption("ROOMSERVICE_MAX_BODY_BYTES", process.env.ROOMSERVICE_MAX_BODY_BYTES, 1024, 1024 ** 3);
      let helperSpawns;
      try {
        helperSpawns = helperSpawnConfigFromEnv(process.env);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const rawPublicUrl = o.publicUrl ?? process.env.ROOMSERVICE_PUBLIC_URL;
      let publicUrl: string | undefined;
      try {
        publicUrl = rawPublicUrl === undefined || rawPublicUrl === "" ? undefined : parsePublicUrl(rawPublicUrl, o.publicUrl !== undefined ? "--public-url" : "ROOMSERVICE_PUBLIC_URL");
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const db = databaseUrlFrom(o.database);
      if (port !== 0) await checkPortFree(host, port);
      const removeCreated = () => {
        if (created) rmSync(dataDir, { recursive: true, force: true });
      };
      const logger = createLogger();
      const runtime = await selectRuntime({ mode, dataDir, logger, helperSpawns, ...(poolSize === undefined ? {} : { poolSize }) }).catch((err: Error) => {
        removeCreated();
        throw new CliError(err.message);
      });
      // In a cluster the demo's record is the shared store's: the nodes set it up once between them.
      const demo = o.demo && !/^(0|false|no|off)$/i.test(process.env.ROOMSERVICE_DEMO ?? "");
      const demoVoice = o.demoVoice === true || /^(1|true|yes|on)$/i.test(process.env.ROOMSERVICE_DEMO_VOICE ?? "");
      // The examples' images are built on first use (a service naming roomservice-demo/<example>:latest
      // waits, pending with a Building event, while it builds): Docker only.
      const docker = runtime?.kind === "docker" ? (runtime as unknown as { docker: DockerEngine }).docker : null;
      const images = docker === null ? undefined : new ExampleImages({ docker, logger, examples: [...DEMO_EXAMPLES, DEMO_VOICE] });
      const server = await startRoomServer({
        dataDir, port, host, logger, runtime, ...(images === undefined ? {} : { images }), ...(cluster === undefined ? {} : { cluster }),
        ...(db.url === undefined ? {} : { databaseUrl: db.url, databaseUrlSource: db.source }),
        projectId: process.env.ROOMSERVICE_PROJECT_ID ?? "default",
        ...(departure === undefined ? {} : { departureTimeoutMs: departure }),
        ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
        ...(publicUrl === undefined ? {} : { publicUrl }),
      }).catch(async (err: NodeJS.ErrnoException) => {
        await runtime?.close().catch(() => {});
        // A data directory held by another server was not created by this run: kept.
        if (!(err instanceof DataDirLockedError)) removeCreated();
        if (err instanceof DataDirLockedError || err instanceof StoreOpenError) throw new CliError(err.message);
        if (err.code === "EADDRINUSE") throw new CliError(`port ${port} is already in use; pick another with --port or ROOMSERVICE_PORT`);
        throw err;
      });
      const accessFile = await writeLocalAccess(server, dataDir);
      process.stdout.write(`roomservice listening on ${server.url} (data: ${dataDir}${created ? " (created)" : ""}, runtime: ${runtime?.kind ?? "none"})\n`);
      process.stdout.write(`CLI access for this machine: ${accessFile}\n`);
      // On loopback only whoever can read this terminal can use the link: one click signs in.
      if (isLoopback(host)) process.stdout.write(`Studio: ${server.url}/?login=${server.issueLoginCode()}\n`);
      if (demo && images === undefined) {
        process.stdout.write(`room ${DEMO_ROOM}: not set up — its services need Docker (runtime: ${runtime?.kind ?? "none"})\n`);
      } else if (demo && images !== undefined) {
        const r = await setUpDemo({ dataDir, store: server.ctx.store, projectId: server.ctx.projectId, services: server.services, secrets: server.secrets, logger, imageFor: (e) => images.tagFor(e), root: REPO_ROOT, voice: demoVoice });
        const names = [...r.created, ...r.kept];
        if (names.length > 0) {
          // Behind a proxy people open the public address; the one-click login stays loopback-only.
          const link = isLoopback(host) ? `${server.url}/rooms/${DEMO_ROOM}?login=${server.issueLoginCode()}` : `${server.ctx.publicUrl ?? server.url}/rooms/${DEMO_ROOM}`;
          process.stdout.write(`room ${DEMO_ROOM}: open ${link} and press Join room — chat-agent answers in the chat (services: ${names.join(", ")}; off: serve --no-demo)\n`);
        }
        // Build what is missing now, so the first join finds the images ready (progress in the log).
        void images.warm(r.created.concat(r.kept));
      }
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          // A second Ctrl-C / SIGTERM: the operator does not want to wait (issue 12 #13).
          logger.warn({ signal }, "second signal: exiting now");
          process.exit(130);
        }
        stopping = true;
        // Services get their stop grace period; nothing else may hold the exit up for longer.
        const deadlineMs = server.launcher.longestGracePeriodMs() + SHUTDOWN_SLACK_MS;
        logger.info({ signal, deadlineMs }, "shutting down");
        setTimeout(() => {
          logger.error({ deadlineMs }, "shutdown did not finish in time; exiting");
          process.exit(1);
        }, deadlineMs).unref();
        server.close().then(() => process.exit(0), (err) => {
          logger.error({ err }, "shutdown failed");
          process.exit(1);
        });
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
}

/**
 * Fails when `host:port` cannot be bound (in use, or not an address of this machine),
 * before anything is created. The server binds it again moments later; losing that race
 * is still reported, and the directory this run created is removed.
 */
async function checkPortFree(host: string, port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") reject(new CliError(`port ${port} is already in use; pick another with --port or ROOMSERVICE_PORT`));
      else if (err.code === "EADDRNOTAVAIL") reject(new CliError(`--host ${host}: not an address of this machine`));
      else if (err.code === "EACCES") reject(new CliError(`port ${port}: permission denied (ports below 1024 need privileges); pick another with --port`));
      else reject(err);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

interface ServeFlags {
  port?: string; host?: string; data?: string; departureTimeout?: string; runtime?: string;
  cluster?: boolean; database?: string; sharedDir?: string; advertiseUrl?: string; leaseTtl?: string;
  demo: boolean; demoVoice?: boolean; publicUrl?: string;
}

/** The cluster options from flags and env, or undefined without --cluster; errors name the missing flag. */
function clusterOptions(o: ServeFlags): ClusterOptions | undefined {
  const on = o.cluster === true || /^(1|true|yes)$/i.test(process.env.ROOMSERVICE_CLUSTER ?? "");
  if (!on) return undefined;
  const databaseUrl = databaseUrlFrom(o.database).url;
  if (databaseUrl === undefined || !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new CliError(`--cluster needs a PostgreSQL database: --database postgres://… or ROOMSERVICE_DATABASE_URL (got ${databaseUrl === undefined ? "none" : JSON.stringify(databaseUrl.replace(/\/\/[^@]*@/, "//…@"))})`);
  }
  const shared = o.sharedDir ?? process.env.ROOMSERVICE_SHARED_DIR;
  if (shared === undefined) throw new CliError("--cluster needs --shared-dir DIR (or ROOMSERVICE_SHARED_DIR): the room storage every node mounts");
  const ttl = o.leaseTtl ?? process.env.ROOMSERVICE_LEASE_TTL;
  const leaseTtlMs = ttl === undefined ? undefined : parseIntOption("--lease-ttl", ttl, 2, 3600) * 1000;
  const advertiseUrl = o.advertiseUrl ?? process.env.ROOMSERVICE_ADVERTISE_URL;
  if (advertiseUrl !== undefined && !/^https?:\/\/[^/]+\/?$/.test(advertiseUrl)) throw new CliError(`--advertise-url: expected http://host:port, got ${JSON.stringify(advertiseUrl)}`);
  return {
    databaseUrl, sharedDir: resolve(shared),
    ...(advertiseUrl === undefined ? {} : { advertiseUrl: advertiseUrl.replace(/\/$/, "") }),
    ...(leaseTtlMs === undefined ? {} : { timing: { leaseTtlMs, renewIntervalMs: Math.floor(leaseTtlMs / 4) } }),
  };
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "localhost";
}
