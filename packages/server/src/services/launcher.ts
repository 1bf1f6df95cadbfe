import type { Server as NetServer, Socket } from "node:net";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { ServerContext } from "../context.ts";
import type { RoomEvent } from "../rooms/room.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import { buildLaunchSpec, LaunchError, ROOM_API_PORT } from "./launch-spec.ts";
import type { LaunchSpec, LogLine, ServiceStateJson, Runtime, RoomSandbox, ServiceHandle } from "./runtime-port.ts";
import type { SecretStore } from "./secret-store.ts";
import type { ServiceRecord, ServiceStore } from "./service-store.ts";
import { dirname, join } from "node:path";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";

export type RuntimeLike = Runtime;

interface LiveService {
  record: ServiceRecord;
  handle: ServiceHandle | null;
  /** Set when the spec could not even be built (missing secret, invalid manifest). */
  launchError: string | null;
}

interface LiveSession {
  /** Per-service log files of this session (JSON lines, already masked). */
  logFiles: Map<string, WriteStream>;
  room: string;
  sessionId: string;
  sandbox: RoomSandbox | null;
  listener: NetServer | null;
  services: Map<string, LiveService>;
  starting: Promise<void>;
  stopping: Promise<void> | null;
}

/** A service run started in a live session (see ServiceLauncher.serviceStarted). */
export interface ServiceStartedEvent {
  room: string;
  sessionId: string;
  record: ServiceRecord;
  handle: ServiceHandle;
  /** The room's network namespace (nsenter --net=<path>). */
  netnsPath: string;
}

const LOG_HISTORY = 1000;
type LogListener = (l: LogLine & { service: string }) => void;

/**
 * Starts a room's services when its session starts and stops them when it ends. Takes the
 * configuration snapshot at session start; `restart` applies a service's current version to
 * the live session.
 */
export class ServiceLauncher {
  private readonly live = new Map<string, LiveSession>(); // by room
  private readonly logHistory = new Map<string, (LogLine & { service: string })[]>(); // by room/serviceId
  private readonly logListeners = new Map<string, Set<LogListener>>();
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
  };

  constructor(d: ServiceLauncher["d"]) {
    this.d = d;
    this.log = d.ctx.logger.child({ component: "services" });
    d.rooms.events.on("event", (e) => this.onRoomEvent(e));
  }

  get runtimeKind(): string {
    return this.d.runtime?.kind ?? "none";
  }

  private onRoomEvent(e: RoomEvent): void {
    if (e.type === "session.started") this.startSession(e.room, e.sessionId);
    else if (e.type === "session.ended") void this.stopSession(e.room, e.sessionId);
  }

  private startSession(room: string, sessionId: string): void {
    const records = this.d.services.forRoom(this.d.ctx.projectId, room).filter((r) => r.spec.enabled !== false);
    const session: LiveSession = {
      room, sessionId, sandbox: null, listener: null, stopping: null, logFiles: new Map(),
      services: new Map(records.map((r) => [r.id, { record: r, handle: null, launchError: null }])),
      starting: Promise.resolve(),
    };
    this.live.set(room, session);
    if (records.length === 0) return;
    const log = this.log.child({ room, session: sessionId });
    session.starting = (async () => {
      const runtime = this.d.runtime;
      if (runtime === null) {
        for (const s of session.services.values()) s.launchError = "no container runtime available (Docker not reachable and sandbox unavailable)";
        log.warn("room has services but no runtime is available");
        return;
      }
      session.sandbox = await runtime.createRoomSandbox({ room, sessionId });
      session.listener = await runtime.openRoomApiListener(session.sandbox, ROOM_API_PORT);
      session.listener.on("connection", (sock) => this.d.feedSocket(sock));
      await Promise.all([...session.services.values()].map((s) => this.launch(session, s, log)));
      log.info({ services: session.services.size }, "services started");
    })().catch((err) => {
      log.error({ err }, "starting the room's services failed");
      for (const s of session.services.values()) if (s.handle === null) s.launchError ??= `runtime failed: ${(err as Error).message}`;
    });
  }

  private async launch(session: LiveSession, s: LiveService, log: Logger): Promise<void> {
    let spec: LaunchSpec;
    try {
      spec = await this.spec(session, s.record);
    } catch (err) {
      s.launchError = err instanceof LaunchError ? err.message : `could not prepare service: ${(err as Error).message}`;
      log.warn({ service: s.record.id, error: s.launchError }, "service not started");
      return;
    }
    s.handle = session.sandbox!.startService(spec);
    this.wireLogs(session, s.record, s.handle, spec.secretValues ?? []);
    this.emitStarted(session, s.record, s.handle);
  }

  private emitStarted(session: LiveSession, record: ServiceRecord, handle: ServiceHandle): void {
    const e: ServiceStartedEvent = { room: session.room, sessionId: session.sessionId, record, handle, netnsPath: session.sandbox!.netnsPath };
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
      roomUrl: `ws://127.0.0.1:${ROOM_API_PORT}`,
    });
  }

  /** Where a session's service logs are kept: <data>/rooms/<room>/sessions/<session>/<service id>.log */
  sessionLogFile(room: string, sessionId: string, serviceId: string): string {
    return join(this.d.rooms.roomDir(room), "sessions", sessionId, `${serviceId}.log`);
  }

  private wireLogs(session: LiveSession, rec: ServiceRecord, handle: ServiceHandle, secretValues: string[]): void {
    const room = session.room;
    const key = `${room}/${rec.id}`;
    let file = session.logFiles.get(rec.id);
    if (file === undefined) {
      const path = this.sessionLogFile(room, session.sessionId, rec.id);
      mkdirSync(dirname(path), { recursive: true });
      file = createWriteStream(path, { flags: "a" });
      file.on("error", (err) => this.log.warn({ err, path }, "cannot write service log file"));
      session.logFiles.set(rec.id, file);
    }
    const out = file;
    handle.on("log", (l: LogLine) => {
      let line = l.line;
      // Defence in depth: the runtime masks too, but nothing unmasked may leave this process.
      for (const v of secretValues) if (line.includes(v)) line = line.split(v).join("****");
      const entry = { ...l, line, service: rec.name };
      out.write(JSON.stringify(entry) + "\n");
      let hist = this.logHistory.get(key);
      if (hist === undefined) this.logHistory.set(key, (hist = []));
      hist.push(entry);
      if (hist.length > LOG_HISTORY) hist.splice(0, hist.length - LOG_HISTORY);
      for (const fn of this.logListeners.get(key) ?? []) fn(entry);
      this.d.rooms.get(room)?.logs.publish({
        type: "service.log",
        data: { service_id: rec.id, service: rec.name, stream: l.stream, line, timestamp: l.timestamp },
      });
    });
  }

  private async stopSession(room: string, sessionId: string): Promise<void> {
    const session = this.live.get(room);
    if (session === undefined || session.sessionId !== sessionId) return;
    session.stopping ??= (async () => {
      await session.starting;
      await Promise.allSettled([...session.services.values()].map((s) => s.handle?.stop()));
      await session.sandbox?.stop();
      session.listener?.close();
      for (const f of session.logFiles.values()) f.end();
      this.log.info({ room, session: sessionId }, "services stopped");
    })();
    try {
      await session.stopping;
    } finally {
      if (this.live.get(room) === session) this.live.delete(room);
      this.stopped.emit("stopped", { room, sessionId });
    }
  }

  /** The live session's network namespace (diagnostics and tests: nsenter --net=<path>). */
  netnsPath(room: string): string | undefined {
    return this.live.get(room)?.sandbox?.netnsPath;
  }

  /** services.list payload, as the SDK's ServicesClient expects it. */
  list(room: string): { services_json: Record<string, unknown>[]; service_states: ServiceStateJson[] } {
    const session = this.live.get(room);
    const records = session !== undefined ? [...session.services.values()].map((s) => s.record) : this.d.services.forRoom(this.d.ctx.projectId, room);
    const states: ServiceStateJson[] = [];
    for (const rec of records) {
      const s = session?.services.get(rec.id);
      const extra = this.eventSources.flatMap((fn) => fn(room, rec.id));
      if (s?.handle) {
        const st = s.handle.status();
        states.push(extra.length === 0 ? st : { ...st, events: [...st.events, ...extra] });
      } else {
        const now = this.d.ctx.clock.now();
        states.push({
          service_id: rec.id,
          state: s === undefined ? "stopped" : s.launchError !== null ? "failed" : "pending",
          container_id: null,
          started_at: null,
          restart_count: 0,
          restart_scheduled_at: null,
          last_exit_code: null,
          last_exit_at: null,
          last_start_error: s?.launchError ?? null,
          ports: [],
          events: [
            ...(s?.launchError ? [{ type: "Warning" as const, reason: "FailedStart" as const, message: s.launchError, count: 1, first_timestamp: now, last_timestamp: now }] : []),
            ...extra,
          ],
        });
      }
    }
    return { services_json: records.map((r) => ({ ...r.spec, id: r.id })), service_states: states };
  }

  /** Applies the service's current configuration to the live session now. */
  async restart(room: string, serviceId: string): Promise<void> {
    const session = this.live.get(room);
    if (session === undefined) throw new LaunchError(`room ${room} has no live session`);
    await session.starting;
    const rec = this.d.services.get(serviceId);
    if (rec === undefined || (rec.room !== null && rec.room !== room)) throw new LaunchError(`service ${serviceId} is not configured for room ${room}`);
    let s = session.services.get(serviceId);
    if (s === undefined) session.services.set(serviceId, (s = { record: rec, handle: null, launchError: null }));
    s.record = rec;
    s.launchError = null;
    if (session.sandbox === null) throw new LaunchError("no runtime sandbox for this session");
    const spec = await this.spec(session, rec);
    if (s.handle !== null) {
      this.emitStarted(session, rec, s.handle);
      await s.handle.restart(spec);
    } else {
      s.handle = session.sandbox.startService(spec);
      this.wireLogs(session, rec, s.handle, spec.secretValues ?? []);
      this.emitStarted(session, rec, s.handle);
    }
  }

  /** Log history plus live lines for one service (SSE). */
  subscribeLogs(room: string, serviceId: string, fn: LogListener): { history: (LogLine & { service: string })[]; unsubscribe: () => void } {
    const key = `${room}/${serviceId}`;
    let set = this.logListeners.get(key);
    if (set === undefined) this.logListeners.set(key, (set = new Set()));
    set.add(fn);
    return { history: [...(this.logHistory.get(key) ?? [])], unsubscribe: () => set!.delete(fn) };
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.live.values()].map((s) => this.stopSession(s.room, s.sessionId)));
  }
}
