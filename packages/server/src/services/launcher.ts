import type { Socket } from "node:net";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { ServerContext } from "../context.ts";
import type { RoomEvent } from "../rooms/room.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import { normalizeManifest } from "@roomservice/manifest";
import { checkStoredManifest } from "./stored-manifest.ts";
import { buildLaunchSpec, LaunchError } from "./launch-spec.ts";
import { createRoomFiles } from "./room-files.ts";
import type { LaunchSpec, LogLine, ServiceStateJson, Runtime, RoomApiEndpoint, RoomSandbox, ServiceHandle } from "./runtime-port.ts";
import type { SecretStore } from "./secret-store.ts";
import type { ServiceRecord, ServiceStore } from "./service-store.ts";
import type { ImagePreparer } from "./image-preparer.ts";
import { join } from "node:path";

export type RuntimeLike = Runtime;

/** How long after a session ends or a service changes the room's next session is prepared. */
const PREPARE_DELAY_MS = 50;

/**
 * Where one service of a live session stands (issue 12: an explicit union instead of a
 * handle-or-null plus an error string, which left a failed restart "pending" forever):
 * - `not_started`: waiting for the room's sandbox;
 * - `launching`: its launch spec is being built (secrets, tokens, mounts);
 * - `building`: its image is being built on first use (an ImagePreparer); `since` in ms;
 * - `launched`: the runtime has it; `handle.status()` is the truth from now on;
 * - `failed`: it never reached the runtime; `error` says why (missing secret, no runtime,
 *   the room's sandbox could not be created).
 */
export type ServicePhase =
  | { kind: "not_started" }
  | { kind: "launching" }
  | { kind: "building"; image: string; since: number }
  | { kind: "launched"; handle: ServiceHandle }
  | { kind: "failed"; error: string; at: number };

interface LiveService {
  record: ServiceRecord;
  phase: ServicePhase;
}

/** The handle of a launched service, else null. */
function handleOf(s: LiveService | undefined): ServiceHandle | null {
  return s?.phase.kind === "launched" ? s.phase.handle : null;
}

interface LiveSession {
  room: string;
  sessionId: string;
  sandbox: RoomSandbox | null;
  /** The Room API as the sandbox's services reach it (its url goes into their launch specs). */
  roomApi: RoomApiEndpoint | null;
  services: Map<string, LiveService>;
  starting: Promise<void>;
  /** Resolves when `services` holds the session's configured services (read from the store). */
  loaded: Promise<void>;
  stopping: Promise<void> | null;
  /** Set synchronously when the room's session ends, so a start still in flight creates nothing more. */
  ended: boolean;
  /** Resolves when the session ends: a service waiting for an image build stops waiting. */
  endedSignal: Promise<void>;
  markEnded: () => void;
}

/**
 * What the launcher reports as it works, for the session record and the live streams
 * (services/activity.ts). Every payload names its room and session: a service's output during
 * its grace period after the session ended is still that session's.
 */
export interface LauncherActivity {
  /** A service of the session got a runtime handle (first start, or a restart with a new spec). */
  service: [{ room: string; sessionId: string; record: ServiceRecord; handle: ServiceHandle; spec: LaunchSpec }];
  /** A service could not even be handed to the runtime (missing secret, no runtime...). */
  failed: [{ room: string; sessionId: string; record: ServiceRecord; message: string }];
  /** The service's image is being built before it starts (first use): pending until `built`. */
  building: [{ room: string; sessionId: string; record: ServiceRecord; image: string }];
  /** Its image is built; the service starts now. `ms`: how long the build took. */
  built: [{ room: string; sessionId: string; record: ServiceRecord; image: string; ms: number }];
  /** One line a service printed, masked. */
  log: [{ room: string; sessionId: string; record: ServiceRecord; stream: "stdout" | "stderr"; text: string; at: number }];
}

/** A service run started in a live session (see ServiceLauncher.serviceStarted). */
export interface ServiceStartedEvent {
  room: string;
  sessionId: string;
  record: ServiceRecord;
  handle: ServiceHandle;
  /** The room's sandbox (the MCP bridge opens connections into it with `openConnector`). */
  sandbox: RoomSandbox;
}

/**
 * Starts a room's services when its session starts and stops them when it ends. Takes the
 * configuration snapshot at session start; `restart` applies a service's current version to
 * the live session.
 */
export class ServiceLauncher {
  private readonly live = new Map<string, LiveSession>(); // by room
  readonly activity = new EventEmitter<LauncherActivity>();
  private readonly log: Logger;
  /** "stopped" fires once a session's services, namespace and secrets are all gone. */
  readonly stopped = new EventEmitter<{ stopped: [{ room: string; sessionId: string }] }>();
  /** A service run was started (or restarted with a new record); listeners follow its handle. */
  readonly serviceStarted = new EventEmitter<{ started: [ServiceStartedEvent] }>();
  /** Extra events shown on a service (e.g. the MCP bridge's), merged into services.list. */
  private readonly eventSources: ((room: string, serviceId: string) => ServiceStateJson["events"])[] = [];
  private readonly d: {
    ctx: ServerContext; rooms: RoomManager; services: ServiceStore; secrets: SecretStore;
    runtime: RuntimeLike | null; feedSocket: (s: Socket) => void;
    /** Resolves once the runtime may create sandboxes (after start-up reaping); default: at once. */
    runtimeReady?: Promise<boolean>;
    /** Makes images the server knows how to build (the demo's) on first use. */
    images?: ImagePreparer | undefined;
  };

  /** Rooms whose next session is to be prepared shortly (coalesces bursts of edits). */
  private readonly prepareTimers = new Map<string, NodeJS.Timeout>();
  private closing = false;

  constructor(d: ServiceLauncher["d"]) {
    this.d = d;
    this.log = d.ctx.logger.child({ component: "services" });
    d.rooms.events.on("event", (e) => this.onRoomEvent(e));
    d.services.changes.on("changed", (c) => {
      if (c.project !== d.ctx.projectId) return;
      if (c.room !== null) this.schedulePrepare(c.room);
      // Only the rooms the runtime holds prepared (bounded): a list kept here grew by one
      // room per room that ever had a session, and re-prepared all of them on every edit.
      else for (const room of d.runtime?.preparedRoomNames?.() ?? []) this.schedulePrepare(room);
    });
  }

  /**
   * Asks the runtime (if it can) to prepare `room`'s next session ahead of time — after a
   * session ends and when the room's configuration changes — so the next first participant
   * does not wait for containers to be created and started.
   */
  private schedulePrepare(room: string): void {
    if (this.closing || this.d.runtime?.prepareRoom === undefined) return;
    clearTimeout(this.prepareTimers.get(room));
    this.prepareTimers.set(room, setTimeout(() => {
      this.prepareTimers.delete(room);
      this.prepareRoom(room).catch((err) => this.log.warn({ err, room }, "could not prepare the room's next session"));
    }, PREPARE_DELAY_MS).unref());
  }

  /** A session of `room` that has not ended (its successor is prepared once it ends). */
  private running(room: string): boolean {
    const s = this.live.get(room);
    return s !== undefined && !s.ended;
  }

  private async prepareRoom(room: string): Promise<void> {
    const runtime = this.d.runtime;
    if (this.closing || runtime?.prepareRoom === undefined || this.running(room)) return;
    if ((await this.d.runtimeReady) === false) return;
    const records = (await this.d.services.forRoom(this.d.ctx.projectId, room)).filter((r) => r.spec.enabled !== false);
    const specs: LaunchSpec[] = [];
    for (const rec of records) {
      // Session values (tokens, session id) are placeholders here: the runtime leaves them
      // out of what it prepares and the session delivers its own at start. The Room API URL
      // is the in-namespace one (a runtime whose sessions get another URL finds the prepared
      // spec different and launches normally).
      const spec = await buildLaunchSpec(rec, {
        ctx: this.d.ctx, secrets: this.d.secrets, room, sessionId: "prepared",
        storageRoot: join(this.d.rooms.roomDir(room), "storage"), roomUrl: "ws://127.0.0.1:8078",
      }).catch(() => null); // it will fail at the session, with its reason shown there
      if (spec !== null) specs.push(spec);
    }
    if (this.closing || this.running(room)) return;
    runtime.prepareRoom(room, specs);
  }

  get runtimeKind(): string {
    return this.d.runtime?.kind ?? "none";
  }

  private onRoomEvent(e: RoomEvent): void {
    if (e.type === "session.started") this.startSession(e.room, e.sessionId);
    // A lost lease means another node may already run the room's services: ours are killed
    // at once instead of being given their grace period (docs/scaling.md, overlap on loss).
    else if (e.type === "session.ended") void this.stopSession(e.room, e.sessionId, e.reason === "lease_lost");
  }

  private failService(session: LiveSession, s: LiveService, error: string): void {
    s.phase = { kind: "failed", error, at: this.d.ctx.clock.now() };
    this.activity.emit("failed", { room: session.room, sessionId: session.sessionId, record: s.record, message: error });
  }

  private startSession(room: string, sessionId: string): void {
    clearTimeout(this.prepareTimers.get(room));
    this.prepareTimers.delete(room);
    // The session is live at once (synchronously, as the room's); its services follow when
    // the store has answered.
    let markEnded!: () => void;
    const endedSignal = new Promise<void>((r) => (markEnded = r));
    const session: LiveSession = {
      room, sessionId, sandbox: null, roomApi: null, stopping: null, ended: false, endedSignal, markEnded,
      services: new Map(), starting: Promise.resolve(), loaded: Promise.resolve(),
    };
    this.live.set(room, session);
    const log = this.log.child({ room, session: sessionId });
    const loaded = this.d.services.forRoom(this.d.ctx.projectId, room).then((all) => {
      for (const r of all) if (r.spec.enabled !== false) session.services.set(r.id, { record: r, phase: { kind: "not_started" } });
    });
    session.loaded = loaded.catch(() => {});
    session.starting = (async () => {
      await loaded;
      if (session.services.size === 0 || session.ended) return;
      // The services' room files (`files:`) while the sandbox is made; both before any launch.
      const roomFiles = createRoomFiles({ rooms: this.d.rooms, log }, room, [...session.services.values()].map((s) => s.record))
        .catch((err) => log.warn({ err }, "could not create the services' room files"));
      const runtime = this.d.runtime;
      if (runtime === null) {
        for (const s of session.services.values()) this.failService(session, s, "no container runtime available (Docker not reachable and sandbox unavailable)");
        log.warn("room has services but no runtime is available");
        return;
      }
      await this.d.runtimeReady;
      // A session that ended while it waited, or while its sandbox was being prepared, starts
      // nothing (issue 12 #25).
      if (session.ended) return;
      await this.openSandbox(session, runtime, log);
      await roomFiles;
      if (session.ended) return;
      await this.launchAll(session, log);
      log.info({ services: session.services.size }, "services started");
    })().catch((err) => {
      log.error({ err }, "starting the room's services failed");
      for (const s of session.services.values()) if (s.phase.kind !== "launched") this.failService(session, s, `runtime failed: ${(err as Error).message}`);
    });
  }

  /** Creates the session's sandbox and its Room API listener; watches it for loss. */
  private async openSandbox(session: LiveSession, runtime: RuntimeLike, log: Logger): Promise<void> {
    const sandbox = await runtime.createRoomSandbox({ room: session.room, sessionId: session.sessionId });
    session.sandbox = sandbox;
    session.roomApi = await runtime.openRoomApi(sandbox, (sock) => this.d.feedSocket(sock));
    sandbox.onLost?.((reason) => void this.rebuildSandbox(session, sandbox, reason, log));
  }

  /**
   * The room's namespace holder vanished (issue 12 #22): its services can no longer be
   * restarted and the Room API listener lives in a dead namespace. Stop what is left and
   * start every launched service again in a new sandbox; the reason goes to the developer log.
   */
  private async rebuildSandbox(session: LiveSession, lost: RoomSandbox, reason: string, log: Logger): Promise<void> {
    if (session.ended || session.sandbox !== lost || this.d.runtime === null) return;
    log.warn({ reason }, "room sandbox lost; rebuilding it");
    this.d.rooms.get(session.room)?.logs.publish({ type: "services.sandbox_rebuilt", data: { reason } });
    const rebuild = (async () => {
      await session.starting;
      const oldApi = session.roomApi;
      session.sandbox = null;
      session.roomApi = null;
      await lost.stop().catch((err) => log.warn({ err }, "stopping the lost sandbox failed"));
      oldApi?.close();
      if (session.ended) return;
      await this.openSandbox(session, this.d.runtime!, log);
      if (session.ended) return;
      for (const s of session.services.values()) s.phase = { kind: "not_started" };
      await this.launchAll(session, log);
      log.info({ services: session.services.size, reason }, "room sandbox rebuilt");
    })();
    session.starting = rebuild.catch((err) => {
      log.error({ err }, "rebuilding the room's sandbox failed");
      for (const s of session.services.values()) if (s.phase.kind !== "launched") this.failService(session, s, `${reason}; rebuilding failed: ${(err as Error).message}`);
    });
    await session.starting;
  }

  /**
   * Builds every service's launch spec first, then launches each as soon as its image is
   * ready: services whose images need no build reach the sandbox in the same turn of the event
   * loop, so a runtime that must know the whole set at once (kubernetes: one Pod per session,
   * every service a container of it) receives them together; one whose image is still being
   * built joins later (for Pods, a replacement Pod).
   */
  private async launchAll(session: LiveSession, log: Logger): Promise<void> {
    const ready = await Promise.all([...session.services.values()].map(async (s) => ({ s, spec: await this.prepare(session, s, log) })));
    await Promise.all(ready.map(async ({ s, spec }) => {
      if (spec === null) return;
      const imageError = await this.prepareImage(session, s, spec, log);
      if (imageError !== null) return this.failService(session, s, imageError);
      this.launch(session, s, spec);
    }));
  }

  private async prepare(session: LiveSession, s: LiveService, log: Logger): Promise<LaunchSpec | null> {
    s.phase = { kind: "launching" };
    try {
      return await this.spec(session, s.record);
    } catch (err) {
      const error = err instanceof LaunchError ? err.message : `could not prepare service: ${(err as Error).message}`;
      this.failService(session, s, error);
      log.warn({ service: s.record.id, error }, "service not started");
      return null;
    }
  }

  private launch(session: LiveSession, s: LiveService, spec: LaunchSpec): void {
    if (session.ended || session.sandbox === null) {
      this.failService(session, s, "the room's session ended before the service started");
      return;
    }
    const handle = session.sandbox.startService(spec);
    s.phase = { kind: "launched", handle };
    this.wireLogs(session, s.record, handle, spec.secretValues ?? []);
    this.activity.emit("service", { room: session.room, sessionId: session.sessionId, record: s.record, handle, spec });
    this.emitStarted(session, s.record, handle);
  }

  /**
   * Lets the ImagePreparer make the service's image when it is one it knows and it is missing.
   * While it builds, the service is `building` (pending, with a Building event) and the build's
   * output goes to the service's log. Returns null when the image is ready, else why not.
   */
  private async prepareImage(session: LiveSession, s: LiveService, spec: LaunchSpec, log: Logger): Promise<string | null> {
    const { room, sessionId } = session;
    const clock = this.d.ctx.clock;
    const since = clock.now();
    let building = false;
    const preparing = this.d.images?.prepare(spec.image, (line) => {
      if (!building) {
        building = true;
        if (s.phase.kind !== "launched") s.phase = { kind: "building", image: spec.image, since };
        log.info({ service: s.record.name, image: spec.image }, "building the service's image (first use)");
        this.activity.emit("building", { room, sessionId, record: s.record, image: spec.image });
      }
      this.activity.emit("log", { room, sessionId, record: s.record, stream: "stdout", text: `[image ${spec.image}] ${line}`, at: clock.now() });
    });
    if (preparing === undefined || preparing === null) return null;
    try {
      // The session may end during a long build (voice's Debian base takes minutes): stop
      // waiting then, so its sandbox goes at once; the build goes on for the next session.
      await Promise.race([preparing, session.endedSignal]);
      if (session.ended) {
        preparing.catch(() => undefined);
        return "the room's session ended while the service's image was being built";
      }
    } catch (err) {
      const error = `could not build image ${spec.image}: ${(err as Error).message}`;
      log.warn({ service: s.record.name, error }, "service not started");
      return error;
    }
    if (building) {
      const ms = clock.now() - since;
      log.info({ service: s.record.name, image: spec.image, ms }, "image built");
      this.activity.emit("built", { room, sessionId, record: s.record, image: spec.image, ms });
    }
    return null;
  }

  private emitStarted(session: LiveSession, record: ServiceRecord, handle: ServiceHandle): void {
    if (session.sandbox === null) return;
    const e: ServiceStartedEvent = { room: session.room, sessionId: session.sessionId, record, handle, sandbox: session.sandbox };
    try {
      this.serviceStarted.emit("started", e);
    } catch (err) {
      this.log.error({ err }, "a serviceStarted listener threw");
    }
  }

  /** Adds a source of extra per-service events for services.list. */
  addEventSource(fn: (room: string, serviceId: string) => ServiceStateJson["events"]): void {
    this.eventSources.push(fn);
  }

  private spec(session: LiveSession, rec: ServiceRecord): Promise<LaunchSpec> {
    return buildLaunchSpec(rec, {
      ctx: this.d.ctx, secrets: this.d.secrets, room: session.room, sessionId: session.sessionId,
      storageRoot: join(this.d.rooms.roomDir(session.room), "storage"),
      roomUrl: session.roomApi?.url ?? "ws://127.0.0.1:8078",
    });
  }

  /** Where a session's service logs are kept: <data>/rooms/<room>/sessions/<session>/<service id>.log */
  sessionLogFile(room: string, sessionId: string, serviceId: string): string {
    return join(this.d.rooms.roomDir(room), "sessions", sessionId, `${serviceId}.log`);
  }

  private wireLogs(session: LiveSession, rec: ServiceRecord, handle: ServiceHandle, secretValues: string[]): void {
    const { room, sessionId } = session;
    handle.on("log", (l: LogLine) => {
      let text = l.line;
      // Defence in depth: the runtime masks too, but nothing unmasked may leave this process.
      for (const v of secretValues) if (text.includes(v)) text = text.split(v).join("****");
      this.activity.emit("log", { room, sessionId, record: rec, stream: l.stream, text, at: l.timestamp });
    });
  }

  private async stopSession(room: string, sessionId: string, kill = false): Promise<void> {
    const session = this.live.get(room);
    if (session === undefined || session.sessionId !== sessionId) return;
    session.ended = true;
    session.markEnded();
    session.stopping ??= (async () => {
      // A sandbox rebuild may replace `starting` while we wait: wait until it settles for good.
      for (let p = session.starting; ; p = session.starting) {
        await p;
        if (p === session.starting) break;
      }
      await Promise.allSettled([...session.services.values()].map((s) => handleOf(s)?.stop(kill ? { kill: true } : undefined)));
      await session.sandbox?.stop();
      session.roomApi?.close();
      this.log.info({ room, session: sessionId }, "services stopped");
    })();
    try {
      await session.stopping;
    } finally {
      if (this.live.get(room) === session) this.live.delete(room);
      this.stopped.emit("stopped", { room, sessionId });
      // Only now: preparing while the stop runs made the stop ~2× slower (dockerd does both).
      this.schedulePrepare(room);
    }
  }

  /**
   * The live session's network namespace, when its runtime has one (docker, sandbox; for
   * diagnostics and tests: nsenter --net=<path>).
   */
  netnsPath(room: string): string | undefined {
    const p = (this.live.get(room)?.sandbox as { netnsPath?: unknown } | null | undefined)?.netnsPath;
    return typeof p === "string" ? p : undefined;
  }

  /** services.list payload, as the SDK's ServicesClient expects it. */
  async list(room: string): Promise<{ services_json: Record<string, unknown>[]; service_states: ServiceStateJson[] }> {
    let session = this.live.get(room);
    await session?.loaded;
    if (session !== undefined && this.live.get(room) !== session) session = undefined; // it ended meanwhile
    const records = session !== undefined ? [...session.services.values()].map((s) => s.record) : await this.d.services.forRoom(this.d.ctx.projectId, room);
    const states: ServiceStateJson[] = [];
    for (const rec of records) {
      const s = session?.services.get(rec.id);
      const handle = handleOf(s);
      const extra = this.eventSources.flatMap((fn) => fn(room, rec.id));
      if (handle !== null) {
        const st = handle.status();
        states.push(extra.length === 0 ? st : { ...st, events: [...st.events, ...extra] });
        continue;
      }
      const failed = s?.phase.kind === "failed" ? s.phase : null;
      const building = s?.phase.kind === "building" ? s.phase : null;
      states.push({
        service_id: rec.id,
        state: s === undefined ? "stopped" : failed !== null ? "failed" : "pending",
        container_id: null,
        started_at: null,
        restart_count: 0,
        restart_scheduled_at: null,
        last_exit_code: null,
        last_exit_at: null,
        last_start_error: failed?.error ?? null,
        ports: [],
        events: [
          ...(failed !== null ? [{ type: "Warning" as const, reason: "FailedStart" as const, message: failed.error, count: 1, first_timestamp: failed.at, last_timestamp: failed.at }] : []),
          ...(building !== null ? [{ type: "Normal" as const, reason: "Building" as const, message: buildingMessage(building.image), count: 1, first_timestamp: building.since, last_timestamp: building.since }] : []),
          ...extra,
        ],
      });
    }
    return { services_json: records.map((r) => ({ ...r.spec, id: r.id })), service_states: states };
  }

  /**
   * Applies the service's current configuration to the live session now. When the spec
   * cannot be built (or there is no sandbox) the service is marked failed with the reason,
   * and the error is thrown to the caller as well.
   */
  async restart(room: string, serviceId: string): Promise<void> {
    const session = this.live.get(room);
    if (session === undefined) throw new LaunchError(`room ${room} has no live session`);
    await session.starting;
    const rec = await this.d.services.get(serviceId);
    if (rec === undefined || (rec.room !== null && rec.room !== room)) throw new LaunchError(`service ${serviceId} is not configured for room ${room}`);
    let s = session.services.get(serviceId);
    if (s === undefined) session.services.set(serviceId, (s = { record: rec, phase: { kind: "not_started" } }));
    s.record = rec;
    const handle = handleOf(s);
    if (handle === null) s.phase = { kind: "launching" };
    let spec: LaunchSpec;
    try {
      if (session.sandbox === null || session.ended) throw new LaunchError("no runtime sandbox for this session");
      await createRoomFiles({ rooms: this.d.rooms, log: this.log.child({ room, session: session.sessionId }) }, room, [rec]);
      spec = await this.spec(session, rec);
    } catch (err) {
      const error = err instanceof LaunchError ? err.message : `could not prepare service: ${(err as Error).message}`;
      // A launched service keeps running its old spec; one that never launched shows why.
      if (handle === null) this.failService(session, s, error);
      throw err instanceof LaunchError ? err : new LaunchError(error);
    }
    const imageError = await this.prepareImage(session, s, spec, this.log.child({ room, session: session.sessionId }));
    if (imageError !== null) {
      if (handle === null) this.failService(session, s, imageError);
      throw new LaunchError(imageError);
    }
    if (session.sandbox === null || session.ended) throw new LaunchError("no runtime sandbox for this session");
    if (handle !== null) {
      this.activity.emit("service", { room, sessionId: session.sessionId, record: rec, handle, spec });
      this.emitStarted(session, rec, handle);
      await handle.restart(spec);
    } else {
      const h = session.sandbox.startService(spec);
      s.phase = { kind: "launched", handle: h };
      this.wireLogs(session, rec, h, spec.secretValues ?? []);
      this.activity.emit("service", { room, sessionId: session.sessionId, record: rec, handle: h, spec });
      this.emitStarted(session, rec, h);
    }
  }

  /** The longest stop grace period of the live services, in ms (for a shutdown deadline). */
  longestGracePeriodMs(): number {
    let most = 0;
    for (const session of this.live.values()) {
      for (const s of session.services.values()) {
        const v = checkStoredManifest(s.record.spec);
        most = Math.max(most, v.ok ? normalizeManifest(v.manifest).stop.gracePeriodMs : 0);
      }
    }
    return most;
  }

  /** Stops one service of the live session (it stays stopped until a restart or the next session). */
  async stopService(room: string, serviceId: string): Promise<void> {
    const session = this.live.get(room);
    if (session === undefined) throw new LaunchError(`room ${room} has no live session`);
    await session.starting;
    const s = session.services.get(serviceId);
    if (s === undefined) throw new LaunchError(`service ${serviceId} is not part of room ${room}'s session`);
    await handleOf(s)?.stop();
  }

  /**
   * Kills the room's services that are still running or stopping, cutting a stop's grace
   * period short (`stop({ kill: true })`). For a cluster node that lost the room's lease after
   * its session had ended for another reason (the services were in their grace period):
   * another node may run them already (docs/scaling.md). The session's own stop goes on and
   * finishes as usual.
   */
  killRoom(room: string): void {
    const session = this.live.get(room);
    if (session === undefined) return;
    for (const s of session.services.values()) void handleOf(s)?.stop({ kill: true }).catch(() => undefined);
  }

  /**
   * The live session's id and its services' records, handles, start errors and image builds
   * in progress (`building`: the image and since when, ms) — Studio's room view. `services`
   * is empty until the store has answered the session's start; `loaded` resolves then.
   */
  liveSession(room: string): { sessionId: string; loaded: Promise<void>; services: { record: ServiceRecord; handle: ServiceHandle | null; launchError: string | null; building: { image: string; since: number } | null }[] } | undefined {
    const session = this.live.get(room);
    if (session === undefined) return undefined;
    return {
      sessionId: session.sessionId,
      loaded: session.loaded,
      services: [...session.services.values()].map((s) => ({
        record: s.record, handle: handleOf(s), launchError: s.phase.kind === "failed" ? s.phase.error : null,
        building: s.phase.kind === "building" ? { image: s.phase.image, since: s.phase.since } : null,
      })),
    };
  }

  async stopAll(): Promise<void> {
    this.closing = true;
    for (const t of this.prepareTimers.values()) clearTimeout(t);
    this.prepareTimers.clear();
    await Promise.allSettled([...this.live.values()].map((s) => this.stopSession(s.room, s.sessionId)));
  }
}

/** The Building event's message (the same text in services.list, Studio and the timeline). */
export function buildingMessage(image: string): string {
  return `building image ${image} (first use; its output is in this service's log)`;
}
