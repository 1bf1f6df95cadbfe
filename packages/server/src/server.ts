import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { loadProjectSecret } from "./auth/secret.ts";
import { DEFAULT_DEPARTURE_TIMEOUT_MS, DEFAULT_HOST, DEFAULT_LIMITS, DEFAULT_MAX_BODY_BYTES, MAX_BODY_SETTING, systemClock, type ServerOptions } from "./config.ts";
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
import { openQueueDatabase } from "./toolkits/queues/queue-db.ts";
import { registerRestRoutes } from "./http/rest.ts";
import { registerServiceSourceRoutes } from "./http/service-source-routes.ts";
import { registerKeptLogs } from "./http/log-stream.ts";
import { installErrorHandler, RoomserviceError } from "./http/errors.ts";
import { authenticate, installAuthHook, registerAuthSessionRoutes } from "./http/auth.ts";
import { registerRoomsRest, roomKnown, roomNotFound } from "./http/rooms-rest.ts";
import { registerStudioRest } from "./http/studio-rest.ts";
import { DEFAULT_STREAM_LIMITS, registerRoomStreams, type StreamLimits } from "./http/room-stream.ts";
import type { SseClient } from "./http/sse.ts";
import type { BrowserSessionBackend } from "./auth/browser-sessions.ts";
import { SharedBrowserSessions } from "./auth/shared-browser-sessions.ts";
import { Activity, type ActivityLimits } from "./services/activity.ts";
import { SessionEventStore } from "./store/session-events.ts";
import { RoomStore } from "./store/rooms.ts";
import { ServiceStore } from "./services/service-store.ts";
import { storedServiceProblems } from "./services/stored-manifest.ts";
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
import { startClusterSide, type ClusterNode } from "./cluster/index.ts";
import { ClusterListings, registerClusterRoutes } from "./cluster/listings.ts";
import { localRoomLive } from "./http/rooms-rest.ts";
import { deleteRoomData } from "./rooms/room-delete.ts";
import { AgentWebhooks } from "./services/agent-webhooks.ts";
import { parsePublicUrl } from "./http/public-url.ts";

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
  /** Studio sign-in sessions: in memory, or in the shared database when clustered. */
  browserSessions: BrowserSessionBackend;
  /** A one-time Studio sign-in code (10 min, single use): `serve` prints `<url>/?login=<code>`. */
  issueLoginCode(): string;
  /** Open SSE streams (diagnostics and tests). */
  streams: ReadonlySet<SseClient>;
  /** The MCP bridge: services' MCP endpoints as room toolkits. */
  mcp: McpBridge;
  /** This node's cluster side (`serve --cluster`), else null. */
  cluster: ClusterNode | null;
  /** Every route as registered (method, URL pattern with `:params`): the auth-order test walks them all. */
  routes: readonly { method: string; url: string }[];
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

/** Resolves once the room has no session in the launcher (its services stopped); 409 after `ms`. */
function servicesStopped(launcher: ServiceLauncher, room: string, ms: number): Promise<void> {
  if (launcher.liveSession(room) === undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      launcher.stopped.off("stopped", onStopped);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onStopped = () => {
      if (launcher.liveSession(room) === undefined) done();
    };
    const timer = setTimeout(() => done(new RoomserviceError(409, "conflict", `room ${JSON.stringify(room)}: the services of its last session are still stopping; try again shortly`)), ms);
    launcher.stopped.on("stopped", onStopped);
    onStopped();
  });
}

async function startLocked(
  opts: StartOptions, clock: NonNullable<ServerOptions["clock"]>, logger: ServerOptions["logger"], lock: ReturnType<typeof lockDataDir>,
): Promise<RoomServer> {
  if (opts.cluster !== undefined && opts.databaseUrl !== undefined && opts.databaseUrl !== opts.cluster.databaseUrl) {
    throw new Error("a cluster node keeps its control plane in the cluster's database: databaseUrl and cluster.databaseUrl differ");
  }
  const store = await Store.open({
    databaseUrl: opts.databaseUrl ?? opts.cluster?.databaseUrl, sqliteFile: join(opts.dataDir, "roomservice.db"), logger,
    ...(opts.databaseUrlSource === undefined ? {} : { databaseUrlSource: opts.databaseUrlSource }),
  });
  try {
    return await startWithStore(opts, clock, logger, lock, store);
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}

async function startWithStore(
  opts: StartOptions, clock: NonNullable<ServerOptions["clock"]>, logger: ServerOptions["logger"], lock: ReturnType<typeof lockDataDir>, store: Store,
): Promise<RoomServer> {
  // In a cluster every node must sign and check tokens with one secret: it lives in the shared directory.
  const secretDir = opts.cluster?.sharedDir ?? opts.dataDir;
  const ctx: ServerContext = {
    projectId: opts.projectId ?? "default",
    secret: opts.secret ?? loadProjectSecret(secretDir),
    dataDir: opts.dataDir,
    clock,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    logger,
    store,
    sessions: new SessionStore(store, logger.child({ component: "store" })),
    roomSettings: new RoomSettingsStore(store),
    departureTimeoutMs: opts.departureTimeoutMs ?? DEFAULT_DEPARTURE_TIMEOUT_MS,
    ...(opts.cluster ? { roomsDir: join(opts.cluster.sharedDir, "rooms") } : {}),
    ...(opts.publicUrl === undefined ? {} : { publicUrl: parsePublicUrl(opts.publicUrl, "publicUrl") }),
  };
  await ctx.roomSettings.load();
  // In a cluster, open sessions of other nodes are live: each is closed when its room's lease
  // is next taken, or at a node's start when no live lease covers it (cluster/index.ts).
  const closedDangling = opts.cluster === undefined ? await ctx.sessions.closeDangling(clock.now()) : 0;
  if (closedDangling > 0) logger.warn({ sessions: closedDangling }, "closed sessions left open by an earlier run");

  // Reaping waits for the port (below); sessions that start meanwhile wait for the reaping.
  let runtimeReady!: (ok: boolean) => void;
  const runtimeReadyP = new Promise<boolean>((r) => (runtimeReady = r));
  const rooms = new RoomManager(ctx);
  // In a cluster the shared rooms directory holds other nodes' uploads in flight: a room's
  // leftovers are cleared when this node takes its lease instead (cluster/index.ts).
  if (opts.cluster === undefined) await rooms.discardIncompleteUploads();
  const services = new ServiceStore(store);
  const secrets = new SecretStore(store, ctx.secret);
  const apiKeys = new ApiKeyStore(store);

  const app = Fastify({ loggerInstance: logger.child({ component: "http" }, { level: "warn" }) as unknown as FastifyBaseLogger, bodyLimit: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES });
  installErrorHandler(app, logger.child({ component: "http" }), { bytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, setting: MAX_BODY_SETTING });
  const routes: { method: string; url: string }[] = [];
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  // Before any route: live-room REST calls are forwarded to the owner before auth runs here.
  const cluster = opts.cluster === undefined ? null : await startClusterSide({
    options: opts.cluster, dataDir: opts.dataDir, ctx, rooms, app, runtime: opts.runtime ?? null,
    liveSessionOf: (room) => launcher.liveSession(room) !== undefined,
    killServices: (room) => launcher.killRoom(room),
    revokeApiKey: async (id) => browserSessions.revokeApiKey(id),
    // Forwarded requests are authenticated here first (the owner checks again): requests come only after listen.
    authenticate: async (req) => void (await authenticate(authDeps, req)),
    reloadRoomSettings: () => ctx.roomSettings.load(),
  }).catch((err) => {
    store.close();
    throw err;
  });
  // Clustered, listings answer the same from every node (live leases, open sessions; owners asked for details).
  const listing = cluster === null ? undefined : new ClusterListings(cluster, { projectId: ctx.projectId, secret: ctx.secret, clock, logger, localRooms: () => rooms.list().length });
  app.get("/healthz", async () => (listing !== undefined ? listing.health() : { ok: true, rooms: rooms.list().length }));
  registerStorageRoutes(app, ctx, rooms);
  registerStudioRoutes(app, opts.studioDir === undefined ? {} : { dir: opts.studioDir });
  const launcher = new ServiceLauncher({
    ctx, rooms, services, secrets, runtime: opts.runtime ?? null, runtimeReady: runtimeReadyP, images: opts.images,
    // Sockets accepted inside a room's network namespace (127.0.0.1:8078) are served by the
    // same HTTP server, so services reach the ordinary Room API with no proxy in between.
    feedSocket: (sock) => app.server.emit("connection", sock),
  });
  const llm = new LlmStore(store, logger.child({ component: "store" }));
  registerLlmProxy(app, { ctx, rooms, llm, secrets });
  const events = new SessionEventStore(store, logger.child({ component: "store" }));
  const activity = new Activity({ ctx, rooms, launcher, services, runtime: opts.runtime ?? null, events, ...(opts.activityLimits ? { limits: opts.activityLimits } : {}) });
  // In a cluster a sign-in must work on every node (no cookie affinity): sessions in the database.
  // In the database on every server (SQLite or PostgreSQL): a sign-in survives a restart, and a
  // cluster's nodes share them (no load-balancer affinity needed).
  const browserSessions: BrowserSessionBackend = new SharedBrowserSessions(store, clock, logger.child({ component: "auth" }));
  const streams = new Set<SseClient>();
  const authDeps = { ctx, apiKeys, browserSessions };
  registerAuthSessionRoutes(app, authDeps);
  // The REST API: one scope, one auth hook (API key, admin JWT or Studio's session cookie).
  await app.register(async (api) => {
    installAuthHook(api, authDeps);
    registerRestRoutes(api, { ctx, services, secrets, apiKeys, ...imageCheck(opts.runtime ?? null) });
    registerServiceSourceRoutes(api, { ctx, services });
    const roomStore = new RoomStore(store);
    registerRoomsRest(api, {
      ctx, rooms, roomStore, events, activity, apiKeys, browserSessions, ...(listing ? { listing } : {}),
      deleteRoomData: async (room) => {
        // An ended session's services may still be stopping (grace period) and writing their
        // kept logs into the room's directory: wait for them, bounded.
        await servicesStopped(launcher, room, launcher.longestGracePeriodMs() + 10_000);
        await events.flush();
        const report = await deleteRoomData({ store, roomsDir: rooms.roomsDir, queues: queueDb }, room);
        await ctx.roomSettings.load();
        services.changes.emit("changed", { project: ctx.projectId, room });
        return report;
      },
    });
    if (listing !== undefined) registerClusterRoutes(api, (room) => localRoomLive(activity, room));
    const requireRoom = async (room: string) => {
      if (!(await roomKnown(rooms, roomStore, room))) throw roomNotFound(room);
    };
    registerStudioRest(api, { ctx, services, launcher, activity, requireRoom, ...imageCheck(opts.runtime ?? null) });
    registerKeptLogs(api, launcher);
    registerRoomStreams(api, { ctx, activity, services, clients: streams, limits: { ...DEFAULT_STREAM_LIMITS, ...opts.streamLimits } });
    registerLlmRoutes(api, { ctx, llm, secrets });
  }, { prefix: "/accounts/projects/:project" });
  // Declared after the routes that use it (deleteRoomData): they run only once the server listens.
  const queueDb = openQueueDatabase(store, opts.dataDir);
  const sync = createSyncService({ rooms, clock, logger: logger.child({ toolkit: "sync" }), limits: opts.syncLimits });
  const dispatcher = new Dispatcher(ctx, [messagingToolkit, storageToolkit, developerToolkit, servicesToolkit(launcher), sync.toolkit,
    createQueuesToolkit({ db: queueDb, rooms, clock, logger, limits: opts.queueLimits })]);
  const mcp = new McpBridge({ ctx, rooms, launcher, reservedNames: dispatcher.reservedNames, ...(opts.mcpTimeouts ? { timeouts: opts.mcpTimeouts } : {}) });
  dispatcher.addProvider(mcp);
  const agentWebhooks = new AgentWebhooks({ ctx, rooms, launcher });
  const mountEvents = new MountEvents({ rooms, launcher, logger });

  const sockets = new RoomSocketServer(ctx, rooms, dispatcher);
  if (cluster !== null) sockets.router = (room, req, socket, head, refuse) => cluster.routeUpgrade(room, req, socket, head, refuse);
  app.server.on("upgrade", (req, socket, head) => sockets.handleUpgrade(req, socket, head));

  try {
    await app.listen({ port: opts.port ?? 0, host: opts.host ?? DEFAULT_HOST });
  } catch (err) {
    runtimeReady(false);
    await cluster?.close();
    queueDb.close();
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
  await cluster?.register(url, opts.cluster?.advertiseUrl);
  logger.info({ url, dataDir: opts.dataDir, projectId: ctx.projectId }, "roomservice listening");
  // Services an earlier release stored with names the current rules refuse: kept, said once here.
  for (const p of await storedServiceProblems(services, ctx.projectId)) {
    logger.warn({ service: p.rec.id, name: p.rec.name, room: p.rec.room, warnings: p.warnings }, `stored service ${JSON.stringify(p.rec.name)}: ${p.warnings.map((w) => `${w.path}: ${w.message}`).join("; ")}`);
  }

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
    cluster,
    routes,
    close() {
      closing ??= (async () => {
        rooms.endAll("server_shutdown");
        // Ending the sessions closed every sync stream; wait for the documents' last writes.
        await sync.flushAll();
        await launcher.stopAll();
        // Only now: a watcher sees the services' last lines (what they print on SIGTERM). Open
        // streams would keep app.close() waiting forever (issue #12 case 13).
        for (const c of [...streams]) c.end();
        activity.closeAll();
        await mcp.close();
        agentWebhooks.close();
        mountEvents.close();
        await opts.runtime?.close();
        // Every room here has ended and its services stopped: only now may other nodes take them.
        await cluster?.close();
        sockets.close();
        // Streaming responses (SSE) never end on their own: close every connection, or
        // app.close() waits for them forever (issue 12 #13).
        const closed = app.close();
        app.server.closeAllConnections();
        await closed;
        queueDb.close();
        await store.close();
        lock.release();
      })();
      return closing;
    },
  };
}
