import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import type { ServerContext } from "../context.ts";
import type { SseClient } from "../http/sse.ts";
import type { RoomEvent } from "../rooms/room.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { SessionEventStore } from "../store/session-events.ts";
import type { ActivityEvent, ActivityLogLine, Participant, RoomLive, ServiceState, StatsSample } from "@roomservice/protocol";
import { iso } from "@roomservice/protocol";
import { buildingMessage, type LauncherActivity, type ServiceLauncher } from "./launcher.ts";
import { DEFAULT_FEED_LIMITS, RoomFeed, type FeedLimits, type FeedSubscriber } from "./room-feed.ts";
import type { LaunchSpec, Runtime, ServiceHandle, ServiceStateJson } from "./runtime-port.ts";
import { serviceStateJson, studioEvents } from "./service-state.ts";
import type { ServiceRecord, ServiceStore } from "./service-store.ts";
import { StatsPoller } from "./stats-poller.ts";
import { DEFAULT_CATCH_UP_LIMITS, KeptLogReader, sessionLogFiles, type CatchUpLimits } from "./log-catchup.ts";

export interface ActivityLimits extends FeedLimits {
  /** Timeline events kept per session in SQLite; past it, one warning says so. */
  maxEventsPerSession: number;
  /** How often running services are sampled for CPU and memory. */
  statsIntervalMs: number;
  /** Catching a resuming stream client up from the kept log files. */
  catchUp: CatchUpLimits;
}

export const DEFAULT_ACTIVITY_LIMITS: ActivityLimits = { ...DEFAULT_FEED_LIMITS, maxEventsPerSession: 10_000, statsIntervalMs: 2000, catchUp: DEFAULT_CATCH_UP_LIMITS };

/** A service as one session knows it; `record`/`spec` change when a restart applies an edit. */
interface SessionService {
  record: ServiceRecord;
  spec: LaunchSpec | null;
  handle: ServiceHandle | null;
  launchError: string | null;
}

/** What is kept while a session's services run; dropped when they have all stopped. */
interface SessionActivity {
  room: string;
  sessionId: string;
  services: Map<string, SessionService>;
  /** Per-service log files (JSON lines of ActivityLogLine, already masked). */
  files: Map<string, WriteStream>;
  eventsStored: number;
  stats: StatsPoller<SessionService> | null;
  /** Lines each service printed so far in this session (their `line_no`). */
  lineNo: Map<string, number>;
}

export interface ActivityDeps {
  ctx: ServerContext;
  rooms: RoomManager;
  launcher: ServiceLauncher;
  services: ServiceStore;
  runtime: Runtime | null;
  events: SessionEventStore;
  limits?: Partial<ActivityLimits>;
}

/**
 * One room session as a single story: every session, participant and service event, log line
 * and stats sample is numbered (`seq`), tagged with its session, kept with the session (SQLite
 * and log files) and sent to the room's live streams and developer log — so Studio's timeline,
 * the SSE streams and an ended session's replay all show the same thing.
 */
export class Activity {
  private seqValue: number;
  private readonly d: ActivityDeps;
  readonly limits: ActivityLimits;
  private readonly feeds = new Map<string, RoomFeed>();
  private readonly sessions = new Map<string, SessionActivity>();
  private readonly attached = new WeakSet<ServiceHandle>();
  /**
   * Studio's form of a runtime event list, per list: the runtimes hand out the same frozen
   * list until an event changes it, so a state change re-converts nothing (weak: a list no
   * runtime holds any more is dropped with it).
   */
  private readonly studioEventLists = new WeakMap<ServiceStateJson["events"], ServiceState["events"]>();

  constructor(d: ActivityDeps) {
    this.d = d;
    this.limits = { ...DEFAULT_ACTIVITY_LIMITS, ...d.limits };
    // Starts from the clock so ids keep increasing across restarts (Last-Event-ID stays meaningful).
    this.seqValue = d.ctx.clock.now() * 1000;
    d.rooms.events.on("event", (e) => this.onRoomEvent(e));
    d.launcher.activity.on("service", (a) => this.onService(a));
    d.launcher.activity.on("failed", (a) => this.onFailed(a));
    d.launcher.activity.on("building", (a) => this.onBuilding(a));
    d.launcher.activity.on("built", (a) => {
      const message = `image ${a.image} built in ${(a.ms / 1000).toFixed(1)} s`;
      this.emitEvent(a.room, a.sessionId, { kind: "service", type: "Normal", reason: "Built", message, service_id: a.record.id, service_name: a.record.name }, this.d.ctx.clock.now());
    });
    d.launcher.activity.on("log", (a) => this.onLog(a));
    d.launcher.stopped.on("stopped", ({ sessionId }) => this.release(sessionId));
  }

  private nextSeq(): number {
    return ++this.seqValue;
  }

  /** Rooms and sessions currently held in memory (the leak test asserts these return to 0). */
  get held(): { feeds: number; sessions: number; items: number } {
    let items = 0;
    for (const f of this.feeds.values()) items += f.heldItems;
    return { feeds: this.feeds.size, sessions: this.sessions.size, items };
  }

  private feed(room: string): RoomFeed {
    let f = this.feeds.get(room);
    if (f === undefined) this.feeds.set(room, (f = new RoomFeed(room, this.limits)));
    return f;
  }

  private dropFeedIfIdle(f: RoomFeed): void {
    if (f.idle && this.feeds.get(f.room) === f && !this.sessionOfRoomRunning(f.room)) this.feeds.delete(f.room);
  }

  private sessionOfRoomRunning(room: string): boolean {
    for (const s of this.sessions.values()) if (s.room === room) return true;
    return false;
  }

  /** True when the room's streams follow `sessionId` and someone (or the resume buffer) takes messages. */
  private feedWants(room: string, sessionId: string): boolean {
    const f = this.feeds.get(room);
    return f !== undefined && f.sessionId === sessionId && (f.subscribers.size > 0 || f.live);
  }

  /** Sends to the room's streams when `sessionId` is the session they follow. */
  private toFeed(room: string, sessionId: string, event: string, data: unknown, serviceId?: string, line?: ActivityLogLine, id?: number): void {
    const f = this.feeds.get(room);
    if (f === undefined || f.sessionId !== sessionId || f.subscribers.size === 0 && !f.live) return;
    f.publish({ id: id ?? this.nextSeq(), event, data: JSON.stringify(data) }, serviceId, line);
  }

  /** True when `sessionId` is the room's live session (its developer stream may get the entry). */
  private devBus(room: string, sessionId: string) {
    const r = this.d.rooms.get(room);
    return r !== undefined && r.session?.id === sessionId ? r.logs : null;
  }

  /** Keeps an event with its session: bounded per session, but session start and end always. */
  private record(s: SessionActivity | undefined, e: ActivityEvent): void {
    if (s === undefined || e.kind === "session") {
      this.d.events.addEvent(e);
      return;
    }
    if (s.eventsStored < this.limits.maxEventsPerSession) {
      s.eventsStored++;
      this.d.events.addEvent(e);
    } else if (s.eventsStored === this.limits.maxEventsPerSession) {
      s.eventsStored++;
      this.d.events.addEvent({
        seq: this.nextSeq(), session_id: e.session_id, room: e.room, at: e.at, kind: "session", type: "Warning", reason: "EventsTruncated",
        message: `more than ${this.limits.maxEventsPerSession} events in this session: later ones are shown live but not kept`,
      });
    }
  }

  private emitEvent(room: string, sessionId: string, fields: Omit<ActivityEvent, "seq" | "session_id" | "room" | "at">, at: number): ActivityEvent {
    const e: ActivityEvent = { seq: this.nextSeq(), session_id: sessionId, room, at: iso(at), ...fields };
    this.record(this.sessions.get(sessionId), e);
    this.toFeed(room, sessionId, "event", e, e.service_id, undefined, e.seq);
    if (e.kind === "service") {
      this.devBus(room, sessionId)?.publish({
        type: "service.event",
        data: { session_id: sessionId, service_id: e.service_id, service: e.service_name, type: e.type, reason: e.reason, message: e.message, timestamp: at },
      });
    }
    return e;
  }

  // ---- room lifecycle ----

  private onRoomEvent(e: RoomEvent): void {
    const f = this.feed(e.room);
    if (e.type === "session.started") {
      const s: SessionActivity = { room: e.room, sessionId: e.sessionId, services: new Map(), files: new Map(), eventsStored: 0, stats: null, lineNo: new Map() };
      this.sessions.set(e.sessionId, s);
      if (this.d.runtime?.stats !== undefined) {
        s.stats = new StatsPoller<SessionService>({
          clock: this.d.ctx.clock, intervalMs: this.limits.statsIntervalMs, runtime: this.d.runtime, log: this.d.ctx.logger,
          targets: () => s.services.values(), sample: (svc, u, store, n) => this.onStats(s, svc, u, store, n),
        });
        s.stats.start();
      }
      f.startSession(e.sessionId, e.at);
      this.emitEvent(e.room, e.sessionId, { kind: "session", type: "Normal", reason: "SessionStarted", message: "Session started" }, e.at);
      this.toFeed(e.room, e.sessionId, "session", { action: "started", session_id: e.sessionId, at: iso(e.at) });
    } else if (e.type === "session.ended") {
      this.emitEvent(e.room, e.sessionId, { kind: "session", type: "Normal", reason: "SessionEnded", message: `Session ended (${e.reason})` }, e.at);
      this.toFeed(e.room, e.sessionId, "session", { action: "ended", session_id: e.sessionId, at: iso(e.at), reason: e.reason });
      this.d.events.closeParticipants(e.sessionId, e.at);
      if (f.sessionId === e.sessionId) {
        f.live = false;
        f.participants.clear();
      }
      // A session whose services the launcher does not hold (none configured) is done now.
      if (this.d.launcher.liveSession(e.room)?.sessionId !== e.sessionId) this.release(e.sessionId);
    } else if (e.type === "participant.joined") {
      const p: Participant = { id: e.participantId, name: e.identity, role: e.role, joined_at: iso(e.at) };
      if (f.sessionId === e.sessionId) f.participants.set(p.id, p);
      this.d.events.participantJoined(e.sessionId, p, e.at);
      this.emitEvent(e.room, e.sessionId, { kind: "participant", type: "Normal", reason: "ParticipantJoined", message: `${p.name} joined`, participant: { id: p.id, name: p.name, role: p.role } }, e.at);
      this.toFeed(e.room, e.sessionId, "participant", { action: "joined", participant: p, at: iso(e.at) });
    } else {
      const p = f.participants.get(e.participantId) ?? { id: e.participantId, name: e.identity, role: "", joined_at: iso(e.at) };
      f.participants.delete(e.participantId);
      this.d.events.participantLeft(e.sessionId, e.participantId, e.at);
      this.emitEvent(e.room, e.sessionId, { kind: "participant", type: "Normal", reason: "ParticipantLeft", message: `${p.name} left`, participant: { id: p.id, name: p.name, role: p.role } }, e.at);
      this.toFeed(e.room, e.sessionId, "participant", { action: "left", participant: p, at: iso(e.at) });
    }
  }

  /** A session's services have all stopped: close its files, forget its state. */
  private release(sessionId: string): void {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return;
    this.sessions.delete(sessionId);
    s.stats?.stop();
    for (const f of s.files.values()) f.end();
    const feed = this.feeds.get(s.room);
    if (feed !== undefined && feed.sessionId === sessionId && !feed.live) {
      feed.releaseSession();
      this.dropFeedIfIdle(feed);
    }
  }

  // ---- services ----

  private svc(a: { sessionId: string; record: ServiceRecord }): { s: SessionActivity; svc: SessionService } | undefined {
    const s = this.sessions.get(a.sessionId);
    if (s === undefined) return undefined;
    let svc = s.services.get(a.record.id);
    if (svc === undefined) s.services.set(a.record.id, (svc = { record: a.record, spec: null, handle: null, launchError: null }));
    svc.record = a.record;
    return { s, svc };
  }

  private onService(a: LauncherActivity["service"][0]): void {
    const found = this.svc(a);
    if (found === undefined) return;
    const { svc } = found;
    svc.spec = a.spec;
    svc.handle = a.handle;
    svc.launchError = null;
    if (this.attached.has(a.handle)) return;
    this.attached.add(a.handle);
    const { room, sessionId } = a;
    a.handle.on("event", (ev) => {
      this.emitEvent(room, sessionId, { kind: "service", type: ev.type, reason: ev.reason, message: ev.message, service_id: svc.record.id, service_name: svc.record.name }, ev.last_timestamp);
    });
    a.handle.on("state", (st) => {
      if (this.feedWants(room, sessionId)) this.toFeed(room, sessionId, "service", this.stateOf(svc.record, st, a.handle), svc.record.id);
    });
  }

  private onFailed(a: LauncherActivity["failed"][0]): void {
    const found = this.svc(a);
    if (found !== undefined) found.svc.launchError = a.message;
    const now = this.d.ctx.clock.now();
    this.emitEvent(a.room, a.sessionId, { kind: "service", type: "Warning", reason: "FailedStart", message: a.message, service_id: a.record.id, service_name: a.record.name }, now);
    this.toFeed(a.room, a.sessionId, "service", this.notRunning(a.record, "failed", a.message, now), a.record.id);
  }

  /** The service waits for its image: a Building event, and its state (pending, with that event) to the streams. */
  private onBuilding(a: LauncherActivity["building"][0]): void {
    const now = this.d.ctx.clock.now();
    this.emitEvent(a.room, a.sessionId, { kind: "service", type: "Normal", reason: "Building", message: buildingMessage(a.image), service_id: a.record.id, service_name: a.record.name }, now);
    this.toFeed(a.room, a.sessionId, "service", this.notRunning(a.record, "pending", null, now, { image: a.image, since: now }), a.record.id);
  }

  private onLog(a: LauncherActivity["log"][0]): void {
    const s = this.sessions.get(a.sessionId);
    const n = s === undefined ? undefined : (s.lineNo.get(a.record.id) ?? 0) + 1;
    if (n !== undefined) s!.lineNo.set(a.record.id, n);
    const line: ActivityLogLine = {
      seq: this.nextSeq(), at: iso(a.at), session_id: a.sessionId, service_id: a.record.id, service_name: a.record.name, stream: a.stream, text: a.text,
      ...(n === undefined ? {} : { line_no: n }),
    };
    if (s !== undefined) this.logFile(s, a.record.id).write(JSON.stringify(line) + "\n");
    this.devBus(a.room, a.sessionId)?.publish({
      type: "service.log",
      data: { session_id: a.sessionId, service_id: a.record.id, service: a.record.name, stream: a.stream, line: a.text, timestamp: a.at },
    });
    this.toFeed(a.room, a.sessionId, "log", line, a.record.id, line, line.seq);
  }

  private logFile(s: SessionActivity, serviceId: string): WriteStream {
    let f = s.files.get(serviceId);
    if (f === undefined) {
      const path = this.d.launcher.sessionLogFile(s.room, s.sessionId, serviceId);
      mkdirSync(dirname(path), { recursive: true });
      f = createWriteStream(path, { flags: "a" });
      f.on("error", (err) => this.d.ctx.logger.warn({ err, path }, "cannot write service log file"));
      s.files.set(serviceId, f);
    }
    return f;
  }

  private onStats(s: SessionActivity, svc: SessionService, u: { cpuPercent: number; memoryBytes: number; memoryLimitBytes: number | null }, store: boolean, n: number): void {
    const r = svc.spec?.resources;
    const sample: StatsSample = {
      at: iso(this.d.ctx.clock.now()), session_id: s.sessionId, service_id: svc.record.id, service_name: svc.record.name,
      cpu_percent: Math.round(u.cpuPercent * 10) / 10, memory_bytes: u.memoryBytes,
      memory_limit_bytes: r?.memoryBytes ?? u.memoryLimitBytes, cpu_limit_cores: r?.nanoCpus !== undefined ? r.nanoCpus / 1e9 : null,
      sample_no: n,
    };
    if (store) this.d.events.addStats(sample);
    this.toFeed(s.room, s.sessionId, "stats", sample, svc.record.id);
  }

  // ---- state for the API ----

  private stateOf(rec: ServiceRecord, st: ServiceStateJson, handle: ServiceHandle): ServiceState {
    // Only a frozen list is a snapshot that cannot change behind the cache.
    if (!Object.isFrozen(st.events)) return serviceStateJson(rec, st, handle.lastExit());
    let events = this.studioEventLists.get(st.events);
    if (events === undefined) this.studioEventLists.set(st.events, (events = studioEvents(st.events)));
    return serviceStateJson(rec, st, handle.lastExit(), events);
  }

  private notRunning(rec: ServiceRecord, state: "failed" | "pending" | "stopped", error: string | null, now: number, building: { image: string; since: number } | null = null): ServiceState {
    const st: ServiceStateJson = {
      service_id: rec.id, state, container_id: null, started_at: null, restart_count: 0, restart_scheduled_at: null, last_exit_code: null,
      last_exit_at: null, last_start_error: error, ports: [],
      events: error !== null ? [{ type: "Warning", reason: "FailedStart", message: error, count: 1, first_timestamp: now, last_timestamp: now }]
        : building !== null ? [{ type: "Normal", reason: "Building", message: buildingMessage(building.image), count: 1, first_timestamp: building.since, last_timestamp: building.since }]
        : [],
    };
    return serviceStateJson(rec, st, null);
  }

  /**
   * The room as Studio shows it now (docs/studio-api.md `RoomLive`). A session's services are
   * listed from the moment it starts: its services are read from the store as it starts, and
   * a snapshot taken before that read answered waits for it (else it would list none). When
   * the session changes while the store is read (one started or ended), it reads again.
   */
  async snapshot(room: string): Promise<RoomLive> {
    let configured: ServiceRecord[] | null = null;
    for (let attempt = 0; ; attempt++) {
      const before = this.d.launcher.liveSession(room);
      if (before === undefined) configured = await this.d.services.forRoom(this.d.ctx.projectId, room);
      else await before.loaded;
      const after = this.d.launcher.liveSession(room);
      // Three tries: sessions do not start and end faster than the store answers, and a
      // snapshot must answer; the last try describes whatever it finds.
      if (after?.sessionId === before?.sessionId || attempt === 2) break;
    }
    const now = this.d.ctx.clock.now();
    const live = this.d.launcher.liveSession(room);
    const r = this.d.rooms.get(room);
    const f = this.feeds.get(room);
    const services: ServiceState[] = live !== undefined
      ? live.services.map((s) => (s.handle !== null ? this.stateOf(s.record, s.handle.status(), s.handle) : this.notRunning(s.record, s.launchError !== null ? "failed" : "pending", s.launchError, now, s.building)))
      : (configured ?? (await this.d.services.forRoom(this.d.ctx.projectId, room))).map((rec) => this.notRunning(rec, "stopped", null, now));
    const session = r?.session ?? null;
    return {
      room,
      session: session === null ? null : {
        id: session.id, started_at: iso(session.startedAt),
        participants: f !== undefined && f.sessionId === session.id ? [...f.participants.values()] : [],
      },
      services,
    };
  }

  /**
   * Attaches a stream client to a room: `snapshot` first (room stream only), then what it
   * missed (after `lastEventId`) or the session's recent log lines, then live messages. A
   * client resuming after messages the room no longer keeps is caught up from the session's
   * log files first (services/log-catchup.ts), then sent a fresh snapshot (service states it
   * missed), then switched to live. Returns the function that detaches it.
   */
  subscribe(room: string, client: SseClient, o: {
    lastEventId: number | null; serviceId?: string; /** logs and events only (no snapshot) */ onlyLogs?: boolean; maxReplayBytes: number;
    /** The room's snapshot (await snapshot(room) first), sent first unless onlyLogs. */
    snapshot?: RoomLive;
  }): () => void {
    const f = this.feed(room);
    const accepts: FeedSubscriber["accepts"] = (m, serviceId) =>
      (o.serviceId === undefined || serviceId === o.serviceId) && (o.onlyLogs !== true || m.event === "log" || m.event === "event");
    // A resuming client's snapshot carries the id it resumes after: dropped again before the
    // first replayed message, it resumes from the same place (not from "now").
    if (o.onlyLogs !== true && o.snapshot !== undefined) client.send({ id: o.lastEventId ?? this.seqValue, event: "snapshot", data: JSON.stringify(o.snapshot) });
    const sub: FeedSubscriber = { client, accepts };
    let detached = false;
    /** The feed `sub` is (or will be) attached to. */
    let current = f;
    const attach = (after: number | null) => {
      // The room's feed, looked up again: while a catch-up ran, an ended session's idle feed
      // may have been dropped and a new one made (a subscriber on the old one would hear nothing).
      const cur = this.feed(room);
      for (const m of cur.replay(after, accepts, o.maxReplayBytes)) client.send(m);
      cur.subscribers.add(sub);
      current = cur;
    };
    const sessionId = f.sessionId;
    if (o.lastEventId === null || f.keepsAllAfter(o.lastEventId) || sessionId === null) attach(o.lastEventId);
    else {
      void this.catchUp(f, sessionId, client, o.lastEventId, { ...o, accepts }, () => detached).then(
        (after) => {
          if (!detached && client.open) attach(after);
        },
        (err: unknown) => {
          this.d.ctx.logger.warn({ err, room }, "catching a stream client up from the kept logs failed");
          if (!detached && client.open) attach(o.lastEventId);
        },
      );
    }
    return () => {
      detached = true;
      current.subscribers.delete(sub);
      this.dropFeedIfIdle(current);
    };
  }

  /**
   * Sends the log lines after `after` from the session's kept files, paced by the client's
   * socket, until the room's resume buffer holds everything newer and it fits the replay
   * bound; sends a fresh snapshot (room stream). Resolves with the id to replay after.
   *
   * Terminates: a round that finds no newer line in the files ends it, whatever the resume
   * buffer says — what the buffer no longer holds and the files do not have (stats samples,
   * events, other services' lines, or everything once the session's buffers were released)
   * cannot be caught up by reading again, and the snapshot covers the states it described.
   * Every other round sends at least one line, and `maxLines` bounds those.
   */
  private async catchUp(f: RoomFeed, sessionId: string, client: SseClient, after: number, o: { serviceId?: string; onlyLogs?: boolean; maxReplayBytes: number; accepts: FeedSubscriber["accepts"] }, detached: () => boolean): Promise<number> {
    const lim = this.limits.catchUp;
    const dir = dirname(this.d.launcher.sessionLogFile(f.room, sessionId, "x"));
    const reader = new KeptLogReader();
    let sent = 0;
    for (;;) {
      if (detached() || !client.open) return after;
      await this.flushLogs(sessionId);
      const batch = await reader.next(await sessionLogFiles(dir, o.serviceId), after, lim.batchLines);
      for (const line of batch) {
        if (detached() || !client.open) return after;
        client.send({ id: line.seq, event: "log", data: JSON.stringify(line) });
        after = line.seq;
        if (client.bufferedBytes > client.maxBytes / 2) await client.drainedTo(client.maxBytes / 4, lim.stallMs);
      }
      sent += batch.length;
      // Past the bound, the client resumes live: line_no tells it how many it skipped.
      if (sent >= lim.maxLines) break;
      if (batch.length === lim.batchLines) continue;
      // The files had nothing newer: done once the buffer holds the rest and it fits.
      const snapshot = o.onlyLogs === true ? null : await this.snapshot(f.room);
      if (detached() || !client.open) return after;
      const stillFollowing = batch.length > 0 && this.feeds.get(f.room) === f && f.sessionId === sessionId;
      if (stillFollowing && (!f.keepsAllAfter(after) || f.bytesAfter(after, o.accepts) > o.maxReplayBytes)) continue;
      if (snapshot !== null) client.send({ id: after, event: "snapshot", data: JSON.stringify(snapshot) });
      return after;
    }
    return after;
  }

  /** Resolves once every log line of the session written so far is in its files. */
  private async flushLogs(sessionId: string): Promise<void> {
    const s = this.sessions.get(sessionId);
    if (s === undefined) return;
    await Promise.all([...s.files.values()].map((w) => new Promise<void>((r) => (w.writable ? w.write("", () => r()) : r()))));
  }

  /** Ends every stream (server shutdown): clients see the end instead of a hang. */
  closeAll(): void {
    for (const f of this.feeds.values()) for (const s of [...f.subscribers]) s.client.end();
    for (const s of [...this.sessions.keys()]) this.release(s);
    this.d.events.flush();
  }
}

