import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { loadProjectSecret } from "./auth/secret.ts";
import { DEFAULT_DEPARTURE_TIMEOUT_MS, DEFAULT_HOST, DEFAULT_LIMITS, systemClock, type ServerOptions } from "./config.ts";
import type { ServerContext } from "./context.ts";
import { RoomSocketServer } from "./http/upgrade.ts";
import { registerStorageRoutes } from "./http/storage-routes.ts";
import { registerStudioRoutes } from "./http/studio-routes.ts";
import { Dispatcher } from "./rooms/dispatch.ts";
import { RoomManager } from "./rooms/room-manager.ts";
import { Store } from "./store/db.ts";
import { RoomSettingsStore, SessionStore } from "./store/sessions.ts";
import { developerToolkit } from "./toolkits/developer.ts";
import { messagingToolkit } from "./toolkits/messaging.ts";
import { storageToolkit } from "./toolkits/storage.ts";
import { servicesToolkit } from "./toolkits/services.ts";
import { createSyncService, type SyncLimits } from "./toolkits/sync/index.ts";
import { createQueuesToolkit, type QueueLimits } from "./toolkits/queues/index.ts";
import { registerRestRoutes } from "./http/rest.ts";
import { registerKeptLogs } from "./http/log-stream.ts";
import { installErrorHandler } from "./http/errors.ts";
import { installAuthHook, registerAuthSessionRoutes } from "./http/auth.ts";
import { registerRoomsRest } from "./http/rooms-rest.ts";
import { registerStudioRest } from "./http/studio-rest.ts";
import { DEFAULT_STREAM_LIMITS, registerRoomStreams, type StreamLimits } from "./http/room-stream.ts";
import type { SseClient } from "./http/sse.ts";
import { BrowserSessions } from "./auth/browser-sessions.ts";
import { Activity, type ActivityLimits } from "./services/activity.ts";
import { SessionEventStore } from "./store/session-events.ts";
import { RoomStore } from "./store/rooms.ts";
import { ServiceStore } from "./services/service-store.ts";
import { SecretStore } from "./services/secret-store.ts";
import { ApiKeyStore } from "./services/api-keys.ts";
import { ServiceLauncher, type RuntimeLike } from "./services/launcher.ts";
import type { ImagePreparer } from "./services/image-preparer.ts";
import type { Runtime } from "./services/runtime-port.ts";
import { imageExists } from "@roomservice/runtime";
import { lockDataDir } from "./data-lock.ts";
import { McpBridge } from "./mcp/bridge.ts";
import { MountEvents } from "./storage/mount-events.ts";
import { LlmStore } from "./llm/llm-store.ts";
import { registerLlmProxy } from "./llm/proxy.ts";
import { registerLlmRoutes } from "./llm/routes.ts";

export interface RoomServer {
  /** http://host:port */
  url: string;
  port: number;
  ctx: ServerContext;
  rooms: RoomManager;
  dispatcher: Dispatcher;
  app: FastifyInstance;
  services: ServiceStore;
  secrets: SecretStore;
  apiKeys: ApiKeyStore;
  launcher: ServiceLauncher;
  /** Session timelines, live room streams and stats (Studio). */
  activity: Activity;
  browserSessions: BrowserSessions;
  /** A one-time Studio sign-in code (10 min, single use): `serve` prints `<url>/?login=<code>`. */
  issueLoginCode(): string;
  /** Open SSE streams (diagnostics and tests). */
  streams: ReadonlySet<SseClient>;
  /** The MCP bridge: services' MCP endpoints as room toolkits. */
  mcp: McpBridge;
  close(): Promise<void>;
}

/** Options for Studio's streams and session record; defaults in their modules. */
export interface StudioOptions {
  streamLimits?: Partial<StreamLimits>;
  activityLimits?: Partial<ActivityLimits>;
}

/** Docker runtimes can say whether an image exists locally (validation warns when it does not). */
function imageCheck(runtime: Runtime | null): { imageExists?: (image: string) => Promise<boolean> } {
  const docker = (runtime as { docker?: unknown } | null)?.docker;
  if (runtime?.kind !== "docker" || docker === undefined) return {};
  return { imageExists: (image) => imageExists(docker as Parameters<typeof imageExists>[0], image) };
}

/**
 * Builds and starts the room server: store, rooms, toolkits, HTTP and WebSocket. Everything
 * it needs comes in through `opts`; nothing is global, so tests run many servers at once.
 */
/** What startRoomServer takes: server options plus the runtime, the toolkits' limits and Studio's. */
type StartOptions = ServerOptions & StudioOptions & {
  runtime?: RuntimeLike | Runtime | null; syncLimits?: Partial<SyncLimits>; queueLimits?: Partial<QueueLimits>;
  /** Images the server builds on first use (the demo's example images); see services/image-preparer.ts. */
  images?: ImagePreparer;
};

export async function startRoomServer(opts: StartOptions): Promise<RoomServer> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger;
  // Order matters (issue 12 #12): lock the data directory, then bind the port, then reap.
  // Anything earlier would let a second server disturb a running one.
  const lock = lockDataDir(opts.dataDir, clock.now());
  try {
    return await startLocked(opts, clock, logger, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function startLocked(
  opts: StartOptions, clock: NonNullable<ServerOptions["clock"]>, logger: ServerOptions["logger"], lock: ReturnType<typeof lockDataDir>,
): Promise<RoomServer> {
  const store = new Store(join(opts.dataDir, "roomservice.db"));
  const ctx: ServerContext = {
    projectId: opts.projectId ?? "default",
    secret: opts.secret ?? loadProjectSecret(opts.dataDir),
    dataDir: opts.dataDir,
    clock,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    logger,
    store,
    sessions: new SessionStore(store),
    roomSettings: new RoomSettingsStore(store),
    departureTimeoutMs: opts.departureTimeoutMs ?? DEFAULT_DEPARTURE_TIMEOUT_MS,
  };
  const closedDangling = ctx.sessions.closeDangling(clock.now());
  if (closedDangling > 0) logger.warn({ sessions: closedDangling }, "closed sessions left open by an earlier run");

  // Reaping waits for the port (below); sessions that start meanwhile wait for the reaping.
  let runtimeReady!: (ok: boolean) => void;
  const runtimeReadyP = new Promise<boolean>((r) => (runtimeReady = r));
  const rooms = new RoomManager(ctx);
  await rooms.discardIncompleteUploads();
  const services = new ServiceStore(store);
  const secrets = new SecretStore(store, ctx.secret);
  const apiKeys = new ApiKeyStore(store);

  const app = Fastify({ loggerInstance: logger.child({ component: "http" }, { level: "warn" }) as unknown as FastifyBaseLogger, bodyLimit: 1024 * 1024 });
  installErrorHandler(app, logger.child({ component: "http" }));
  app.get("/healthz", async () => ({ ok: true, rooms: rooms.list().length }));
  registerStorageRoutes(app, ctx, rooms);
  registerStudioRoutes(app, opts.studioDir === undefined ? {} : { dir: opts.studioDir });
  const launcher = new ServiceLauncher({
    ctx, rooms, services, secrets, runtime: opts.runtime ?? null, runtimeReady: runtimeReadyP, images: opts.images,
    // Sockets accepted inside a room's network namespace (127.0.0.1:8078) are served by the
    // same HTTP server, so services reach the ordinary Room API with no proxy in between.
    feedSocket: (sock) => app.server.emit("connection", sock),
  });
  const llm = new LlmStore(store);
  registerLlmProxy(app, { ctx, rooms, llm, secrets });
  const events = new SessionEventStore(store);
  const activity = new Activity({ ctx, rooms, launcher, services, runtime: opts.runtime ?? null, events, ...(opts.activityLimits ? { limits: opts.activityLimits } : {}) });
  const browserSessions = new BrowserSessions(clock);
  const streams = new Set<SseClient>();
  const authDeps = { ctx, apiKeys, browserSessions };
  registerAuthSessionRoutes(app, authDeps);
  // The REST API: one scope, one auth hook (API key, admin JWT or Studio's session cookie).
  await app.register(async (api) => {
    installAuthHook(api, authDeps);
    registerRestRoutes(api, { ctx, services, secrets, apiKeys });
    registerRoomsRest(api, { ctx, rooms, roomStore: new RoomStore(store), events, activity, apiKeys, browserSessions });
    registerStudioRest(api, { ctx, services, launcher, activity, ...imageCheck(opts.runtime ?? null) });
    registerKeptLogs(api, launcher);
    registerRoomStreams(api, { ctx, activity, services, clients: streams, limits: { ...DEFAULT_STREAM_LIMITS, ...opts.streamLimits } });
    registerLlmRoutes(api, { ctx, llm, secrets });
  }, { prefix: "/accounts/projects/:project" });
  const sync = createSyncService({ rooms, clock, logger: logger.child({ toolkit: "sync" }), limits: opts.syncLimits });
  const dispatcher = new Dispatcher(ctx, [messagingToolkit, storageToolkit, developerToolkit, servicesToolkit(launcher), sync.toolkit,
    createQueuesToolkit({ store, rooms, clock, logger, limits: opts.queueLimits })]);
  const mcp = new McpBridge({ ctx, rooms, launcher, reservedNames: dispatcher.reservedNames, ...(opts.mcpTimeouts ? { timeouts: opts.mcpTimeouts } : {}) });
  dispatcher.addProvider(mcp);
  const mountEvents = new MountEvents({ rooms, launcher, logger });

  const sockets = new RoomSocketServer(ctx, rooms, dispatcher);
  app.server.on("upgrade", (req, socket, head) => sockets.handleUpgrade(req, socket, head));

  try {
    await app.listen({ port: opts.port ?? 0, host: opts.host ?? DEFAULT_HOST });
  } catch (err) {
    runtimeReady(false);
    store.close();
    throw err;
  }
  const addr = app.server.address() as AddressInfo;
  lock.setPort(addr.port);
  if (opts.runtime) {
    // Whatever an earlier (killed) run of this installation left behind goes now: the lock
    // proves no other server of this data directory (same owner id) is running.
    try {
      const reaped = await opts.runtime.reapOrphans();
      if (reaped.containers + reaped.networks + reaped.files > 0) logger.warn({ reaped }, "removed leftovers of an earlier run");
      opts.runtime.prewarm?.();
    } finally {
      runtimeReady(true);
    }
  } else runtimeReady(true);
  const host = opts.host === undefined || opts.host === "0.0.0.0" || opts.host === "::" ? "127.0.0.1" : opts.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${addr.port}`;
  logger.info({ url, dataDir: opts.dataDir, projectId: ctx.projectId }, "roomservice listening");

  let closing: Promise<void> | null = null;
  return {
    url,
    port: addr.port,
    ctx,
    rooms,
    dispatcher,
    app,
    services,
    secrets,
    apiKeys,
    launcher,
    activity,
    browserSessions,
    issueLoginCode: () => browserSessions.issueLoginCode(),
    streams,
    mcp,
    close() {
      closing ??= (async () => {
        rooms.endAll("server_shutdown");
        // Open streams would keep app.close() waiting forever (issue #12 case 13).
        for (const c of [...streams]) c.end();
        // Ending the sessions closed every sync stream; wait for the documents' last writes.
        await sync.flushAll();
        await launcher.stopAll();
        activity.closeAll();
        await mcp.close();
        mountEvents.close();
        await opts.runtime?.close();
        sockets.close();
        // Streaming responses (SSE) never end on their own: close every connection, or
        // app.close() waits for them forever (issue 12 #13).
        const closed = app.close();
        app.server.closeAllConnections();
        await closed;
        store.close();
        lock.release();
      })();
      return closing;
    },
  };
}
