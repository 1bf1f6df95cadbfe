import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { MessageType, CloseCode, packPayload } from "@roomservice/protocol";
import type { Clock } from "../config.ts";
import type { SessionStore } from "../store/sessions.ts";
import type { Connection } from "./connection.ts";
import { LogBus } from "./log-bus.ts";
import { HostedToolkits } from "../toolkits/hosted.ts";
import type { RoomStorage } from "../storage/room-storage.ts";

export interface Session {
  id: string;
  room: string;
  startedAt: number;
  /** Identities that joined during the session, in order of first arrival. */
  participants: string[];
}

import type { SessionEndReason } from "../store/sessions.ts";
// One reason type for the room and the store (issue 12): defined with the store, re-exported here.
export type { SessionEndReason };

/** Lifecycle events fanned out to subscribers (services runtime, Studio, logs). */
export type RoomEvent =
  | { type: "session.started"; room: string; sessionId: string; at: number }
  | { type: "session.ended"; room: string; sessionId: string; at: number; reason: SessionEndReason; participants: string[] }
  | { type: "participant.joined"; room: string; sessionId: string; participantId: string; identity: string; role: string; service: boolean; at: number }
  | { type: "participant.left"; room: string; sessionId: string; participantId: string; identity: string; at: number };

export interface RoomDeps {
  name: string;
  clock: Clock;
  log: Logger;
  sessions: SessionStore;
  storage: RoomStorage;
  departureTimeoutMs: () => number;
  /** Connections admitted at once; more are refused (close 1013, try again later). */
  maxConnections: number;
  emit: (e: RoomEvent) => void;
  /** Called when the room has neither a session nor connections, so the manager can drop it. */
  onIdle: (room: Room) => void;
}

export type AdmitResult = { ok: true } | { ok: false; reason: string; closeCode: number };

/**
 * Who a hold works for: a participant's connection, or the server itself. A hold counts
 * towards keeping the session open only when its owner would (never a service connection).
 */
export type HoldOwner = { kind: "participant"; conn: Connection } | { kind: "server"; name: string };

export interface HoldOptions {
  owner: HoldOwner;
  /** Shown in debug logs. */
  reason: string;
  /**
   * Idle bound in ms: without a `touch()` for this long the hold expires — `onExpire` runs
   * (it should abort the work) and the hold is released. Measured on the room's clock.
   */
  idleTimeoutMs: number;
  onExpire: () => void;
}

/** A taken hold. `touch()` records progress; `release()` is idempotent. */
export interface Hold {
  touch(): void;
  release(): void;
  readonly released: boolean;
}

/** A hold was asked for after the session ended (or before one started). */
export class SessionEndedError extends Error {
  override name = "SessionEndedError";
}

/**
 * A room and its (at most one) session. The session starts with the first connection that
 * keeps the room alive and ends `departureTimeoutMs` after the last such connection left,
 * unless a hold is taken or someone reconnects meanwhile.
 */
export class Room {
  readonly name: string;
  readonly connections = new Map<string, Connection>();
  readonly logs = new LogBus();
  readonly toolkits: HostedToolkits;
  readonly storage: RoomStorage;
  session: Session | null = null;
  /** Live holds; only those whose owner keeps the room alive count (see HoldOwner). */
  private readonly holds = new Set<{ counts: boolean; end(): void }>();
  private departure: { cancel(): void } | null = null;
  private readonly deps: RoomDeps;
  readonly log: Logger;

  constructor(deps: RoomDeps) {
    this.deps = deps;
    this.name = deps.name;
    this.log = deps.log;
    this.toolkits = new HostedToolkits(this);
    this.storage = deps.storage;
  }

  private get keepAliveCount(): number {
    let n = 0;
    for (const c of this.connections.values()) if (c.keepsRoomAlive) n++;
    return n;
  }

  /**
   * Admits an authenticated connection. Synchronous on purpose: with no await between the
   * check and the session creation, any number of simultaneous first connections create
   * exactly one session.
   */
  admit(conn: Connection): AdmitResult {
    const svc = conn.principal.service;
    const refuse = (reason: string, closeCode: number): AdmitResult => {
      // Nothing may stay behind for a refused connection (issue #12 item 5).
      if (this.session === null && this.connections.size === 0) this.deps.onIdle(this);
      return { ok: false, reason, closeCode };
    };
    if (svc !== undefined && (this.session === null || this.session.id !== svc.sessionId)) {
      return refuse(`service token belongs to session ${svc.sessionId}, which is not this room's current session`, CloseCode.policyViolation);
    }
    if (this.connections.size >= this.deps.maxConnections) {
      return refuse(`room is full (${this.deps.maxConnections} connections)`, CloseCode.tryAgainLater);
    }
    if (this.session === null) this.startSession();
    const session = this.session!;
    this.connections.set(conn.participantId, conn);
    if (!session.participants.includes(conn.identity)) {
      session.participants.push(conn.identity);
      this.scheduleParticipantsWrite(session);
    }
    if (conn.keepsRoomAlive) this.cancelDeparture();
    this.deps.emit({
      type: "participant.joined", room: this.name, sessionId: session.id, participantId: conn.participantId,
      identity: conn.identity, role: conn.principal.role, service: !conn.keepsRoomAlive, at: this.deps.clock.now(),
    });
    return { ok: true };
  }

  private participantsWrite: Session | null = null;

  /**
   * The participant list is written once per event-loop turn, not per connection: a
   * thundering herd of joins becomes one row update (store/history-writer.ts then commits
   * every room's writes of the turn together).
   */
  private scheduleParticipantsWrite(session: Session): void {
    if (this.participantsWrite === session) return;
    this.participantsWrite = session;
    setImmediate(() => {
      this.participantsWrite = null;
      if (this.session === session) this.deps.sessions.recordParticipants(session.id, session.participants);
    });
  }

  private startSession(): void {
    const session: Session = { id: randomUUID(), room: this.name, startedAt: this.deps.clock.now(), participants: [] };
    this.session = session;
    this.deps.sessions.recordStart(session.id, this.name, session.startedAt);
    this.log.info({ session: session.id }, "session started");
    this.deps.emit({ type: "session.started", room: this.name, sessionId: session.id, at: session.startedAt });
  }

  remove(conn: Connection): void {
    if (this.connections.get(conn.participantId) !== conn) return;
    this.connections.delete(conn.participantId);
    this.toolkits.removeOwner(conn);
    if (conn.messagingEnabled) this.broadcastMessaging(conn, "participant.disabled", { id: conn.participantId });
    const session = this.session;
    if (session !== null) {
      this.deps.emit({
        type: "participant.left", room: this.name, sessionId: session.id, participantId: conn.participantId,
        identity: conn.identity, at: this.deps.clock.now(),
      });
    }
    this.maybeScheduleDeparture();
    if (this.session === null && this.connections.size === 0) this.deps.onIdle(this);
  }

  /**
   * Keeps the session open while server-side work runs (an upload being committed after its
   * caller left). Every hold has an owner and an idle bound; a hold owned by a service
   * connection is tracked (and expires) but never keeps the session open. Throws
   * SessionEndedError once the session has ended: no new work may start in it.
   */
  hold(o: HoldOptions): Hold {
    const session = this.session;
    if (session === null) throw new SessionEndedError(`room ${this.name} has no live session; ${o.reason} refused`);
    const counts = o.owner.kind === "server" || o.owner.conn.keepsRoomAlive;
    let timer: { cancel(): void } | null = null;
    const entry = { counts, end: () => release() };
    const arm = () => {
      timer?.cancel();
      timer = this.deps.clock.setTimeout(() => {
        if (h.released) return;
        this.log.info({ reason: o.reason, idleMs: o.idleTimeoutMs }, "room hold expired: no progress within its idle bound");
        release();
        o.onExpire();
      }, o.idleTimeoutMs);
    };
    const release = () => {
      if (h.released) return;
      h.released = true;
      timer?.cancel();
      this.holds.delete(entry);
      this.log.debug({ reason: o.reason, holds: this.holds.size }, "room hold released");
      if (this.session === session) this.maybeScheduleDeparture();
    };
    const h = { released: false, touch: () => (h.released ? undefined : arm()), release };
    this.holds.add(entry);
    arm();
    if (counts) this.cancelDeparture();
    this.log.debug({ reason: o.reason, holds: this.holds.size, counts }, "room hold taken");
    return h;
  }

  /** Holds that keep the session open right now. */
  get holdCount(): number {
    let n = 0;
    for (const h of this.holds) if (h.counts) n++;
    return n;
  }

  private cancelDeparture(): void {
    this.departure?.cancel();
    this.departure = null;
  }

  private maybeScheduleDeparture(): void {
    if (this.session === null || this.departure !== null) return;
    if (this.keepAliveCount > 0 || this.holdCount > 0) return;
    const ms = this.deps.departureTimeoutMs();
    this.log.debug({ ms }, "last participant left; departure timer started");
    this.departure = this.deps.clock.setTimeout(() => {
      this.departure = null;
      if (this.keepAliveCount === 0 && this.holdCount === 0) this.endSession("departure_timeout");
    }, ms);
  }

  /** Ends the session now: remaining (service) connections are closed, history recorded. */
  endSession(reason: SessionEndReason): void {
    const session = this.session;
    if (session === null) return;
    this.cancelDeparture();
    this.session = null;
    for (const h of [...this.holds]) h.end();
    const at = this.deps.clock.now();
    this.deps.sessions.recordEnd(session.id, at, reason, session.participants);
    this.log.info({ session: session.id, reason, participants: session.participants.length }, "session ended");
    for (const c of [...this.connections.values()]) c.close(CloseCode.normal, `room session ended (${reason})`);
    this.deps.emit({ type: "session.ended", room: this.name, sessionId: session.id, at, reason, participants: [...session.participants] });
    if (this.connections.size === 0) this.deps.onIdle(this);
  }

  /** Sends a `messaging.send` event to every messaging-enabled participant but `from`. */
  broadcastMessaging(from: Connection, type: string, message: unknown, attachment?: Buffer): number {
    // Packed once: only the frame header (the message id) differs between receivers.
    let payload: Buffer | null = null;
    let n = 0;
    for (const c of this.connections.values()) {
      if (c === from || !c.messagingEnabled) continue;
      payload ??= packPayload({ from_participant_id: from.participantId, type, message }, attachment);
      c.sendPacked(MessageType.messagingSend, payload);
      n++;
    }
    return n;
  }

  /** Sends an event to every connection but `except`. */
  broadcastEvent(type: string, header: unknown, except?: Connection): void {
    for (const c of this.connections.values()) if (c !== except) c.sendEvent(type, header);
  }
}
