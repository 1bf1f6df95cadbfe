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
import { join } from "node:path";

export type RuntimeLike = Runtime;

interface LiveService {
  record: ServiceRecord;
  handle: ServiceHandle | null;
  /** Set when the spec could not even be built (missing secret, invalid manifest). */
  launchError: string | null;
}

interface LiveSession {
  room: string;
  sessionId: string;
  sandbox: RoomSandbox | null;
  listener: NetServer | null;
  services: Map<string, LiveService>;
  starting: Promise<void>;
  stopping: Promise<void> | null;
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
  /** One line a service printed, masked. */
  log: [{ room: string; sessionId: string; record: ServiceRecord; stream: "stdout" | "stderr"; text: string; at: number }];
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
      room, sessionId, sandbox: null, listener: null, stopping: null,
      services: new Map(records.map((r) => [r.id, { record: r, handle: null, launchError: null }])),
      starting: Promise.resolve(),
    };
    this.live.set(room, session);
    if (records.length === 0) return;
    const log = this.log.child({ room, session: sessionId });
    session.starting = (async () => {
      const runtime = this.d.runtime;
      if (runtime === null) {
        for (const s of session.services.values()) this.fail(session, s, "no container runtime available (Docker not reachable and sandbox unavailable)");
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
      for (const s of session.services.values()) if (s.handle === null && s.launchError === null) this.fail(session, s, `runtime failed: ${(err as Error).message}`);
    });
  }

  private async launch(session: LiveSession, s: LiveService, log: Logger): Promise<void> {
    let spec: LaunchSpec;
    try {
      spec = await this.spec(session, s.record);
    } catch (err) {
      this.fail(session, s, err instanceof LaunchError ? err.message : `could not prepare service: ${(err as Error).message}`);
      log.warn({ service: s.record.id, error: s.launchError }, "service not started");
      return;
    }
    s.handle = session.sandbox!.startService(spec);
    this.wireLogs(session, s.record, s.handle, spec.secretValues ?? []);
    this.activity.emit("service", { room: session.room, sessionId: session.sessionId, record: s.record, handle: s.handle, spec });
  }

  private fail(session: LiveSession, s: LiveService, message: string): void {
    s.launchError = message;
    this.activity.emit("failed", { room: session.room, sessionId: session.sessionId, record: s.record, message });
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
    const { room, sessionId } = session;
    handle.on("log", (l: LogLine) => {
      let text = l.line;
      // Defence in depth: the runtime masks too, but nothing unmasked may leave this process.
      for (const v of secretValues) if (text.includes(v)) text = text.split(v).join("****");
      this.activity.emit("log", { room, sessionId, record: rec, stream: l.stream, text, at: l.timestamp });
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
      if (s?.handle) states.push(s.handle.status());
      else {
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
          events: s?.launchError ? [{ type: "Warning", reason: "FailedStart", message: s.launchError, count: 1, first_timestamp: now, last_timestamp: now }] : [],
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
      this.activity.emit("service", { room, sessionId: session.sessionId, record: rec, handle: s.handle, spec });
      await s.handle.restart(spec);
    } else {
      s.handle = session.sandbox.startService(spec);
      this.wireLogs(session, rec, s.handle, spec.secretValues ?? []);
      this.activity.emit("service", { room, sessionId: session.sessionId, record: rec, handle: s.handle, spec });
    }
  }

  /** Stops one service of the live session (it stays stopped until a restart or the next session). */
  async stopService(room: string, serviceId: string): Promise<void> {
    const session = this.live.get(room);
    if (session === undefined) throw new LaunchError(`room ${room} has no live session`);
    await session.starting;
    const s = session.services.get(serviceId);
    if (s === undefined) throw new LaunchError(`service ${serviceId} is not part of room ${room}'s session`);
    await s.handle?.stop();
  }

  /** The live session's id and its services' records and handles (Studio's room view). */
  liveSession(room: string): { sessionId: string; services: { record: ServiceRecord; handle: ServiceHandle | null; launchError: string | null }[] } | undefined {
    const session = this.live.get(room);
    if (session === undefined) return undefined;
    return { sessionId: session.sessionId, services: [...session.services.values()] };
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.live.values()].map((s) => this.stopSession(s.room, s.sessionId)));
  }
}
