import type { FastifyInstance, FastifyRequest } from "fastify";
import type { BrowserSessionBackend } from "../auth/browser-sessions.ts";
import type { ServerContext } from "../context.ts";
import { roomNameError, type RoomManager } from "../rooms/room-manager.ts";
import type { Activity } from "../services/activity.ts";
import type { RoomLive } from "@roomservice/protocol";
import { iso } from "@roomservice/protocol";
import type { ApiKeyStore } from "../services/api-keys.ts";
import type { RoomInfo, RoomStore } from "../store/rooms.ts";
import type { SessionEventStore } from "../store/session-events.ts";
import type { SessionRecord } from "../store/sessions.ts";
import { badRequest, notFound, RoomserviceError } from "./errors.ts";
import { apiKeyCreateBody, parseBody, roomCreateBody, roomUpdateBody } from "./bodies.ts";
import type { RoomDeleteReport } from "../rooms/room-delete.ts";

export interface RoomsRestDeps {
  ctx: ServerContext;
  rooms: RoomManager;
  roomStore: RoomStore;
  events: SessionEventStore;
  activity: Activity;
  apiKeys: ApiKeyStore;
  browserSessions: BrowserSessionBackend;
  /** `serve --cluster`: rooms and sessions live on other nodes too (cluster/listings.ts). */
  listing?: RoomsListing;
  /** Removes a room's data once no session is live (rooms/room-delete.ts). */
  deleteRoomData: (room: string) => Promise<RoomDeleteReport>;
}

/** The `live` part of a room in `GET /rooms`: its session and badge, null when not live. */
export interface RoomLiveJson {
  session_id: string;
  started_at: string;
  participants: number;
  health: ReturnType<typeof roomHealth> | "unknown";
}

/**
 * Where the live parts of listings come from when rooms run on several nodes: `live` answers
 * for each named room wherever it runs (`local` computes it for a room served here), and
 * `activeSessionIds` names the sessions open on every node.
 */
export interface RoomsListing {
  live(names: string[], local: (name: string) => Promise<RoomLiveJson | null>): Promise<Map<string, RoomLiveJson | null>>;
  activeSessionIds(): Promise<string[]>;
}

/** A room's live part as this node sees it (its own Room object and services). */
export async function localRoomLive(activity: Activity, room: string): Promise<RoomLiveJson | null> {
  const live = await activity.snapshot(room);
  return live.session === null ? null : {
    session_id: live.session.id, started_at: live.session.started_at, participants: live.session.participants.length, health: roomHealth(live),
  };
}

/**
 * A session as the SDK's `parseRoomSession` reads it (`id, room_name, created_at, is_active`)
 * plus what Studio shows: end time and reason, and who took part (identities).
 */
export async function sessionJson(s: SessionRecord, events: SessionEventStore | null): Promise<Record<string, unknown>> {
  return {
    id: s.id,
    room_id: s.room,
    room_name: s.room,
    created_at: iso(s.startedAt),
    is_active: s.endedAt === null,
    ended_at: s.endedAt === null ? null : iso(s.endedAt),
    end_reason: s.endReason,
    participants: s.participants,
    ...(events === null ? {} : { participant_count: await events.participantCount(s.id) }),
  };
}

/** One badge for a room's services: the worst state wins. */
export function roomHealth(live: RoomLive): "ready" | "starting" | "unhealthy" | "failed" | "none" {
  const states = live.services.map((s) => s.state).filter((s) => s !== "stopped" && s !== "stopping");
  if (states.length === 0) return "none";
  if (states.some((s) => s === "failed" || s === "backoff" || s === "exited")) return "failed";
  if (states.includes("unhealthy")) return "unhealthy";
  if (states.some((s) => s === "pending" || s === "starting")) return "starting";
  return "ready";
}

const intQuery = (v: unknown, name: string, def: number, min: number, max: number): number => {
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw badRequest(`${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
};

/**
 * Rooms are implicit: a room exists once anything refers to it — a session, a service, a
 * secret, a setting, or `POST …/rooms`. Writes (creating a service or secret, settings,
 * connect) make a room known; routes that describe a room itself (the room, its live state,
 * its sessions) answer 404 for a name the server has never seen, all with this message.
 * Lists of configuration for a room name (services, secrets) answer [] (configuration may
 * be added before the room's first session), and the room's stream waits for its first
 * session (Studio opens a new room's page before anyone joins).
 */
export function roomNotFound(room: string): RoomserviceError {
  return new RoomserviceError(404, "room_not_found", `room ${JSON.stringify(room)} not found (it has no sessions, services, secrets or settings, and was not created)`);
}

/** Whether the server knows `room` (see {@link roomNotFound}): live now, or stored. */
export async function roomKnown(rooms: RoomManager, roomStore: RoomStore, room: string): Promise<boolean> {
  return rooms.get(room) !== undefined || (await roomStore.get(room)) !== undefined;
}

type Req = FastifyRequest<{ Params: { project: string; room?: string; sid?: string; id?: string }; Querystring: Record<string, string | undefined>; Body: unknown }>;

/**
 * The SDK-shaped routes Studio's Rooms and Session pages use (and that the SDK's `Meshagent`
 * client calls unchanged): rooms, sessions with their events and metrics, API keys. Registered
 * in the authenticated `/accounts/projects/:project` scope.
 */
export function registerRoomsRest(app: FastifyInstance, d: RoomsRestDeps): void {
  const { ctx } = d;

  const local = (room: string) => localRoomLive(d.activity, room);
  /** The live parts of a page of rooms: this node's, or, clustered, every node's. */
  const liveOf = async (names: string[]): Promise<Map<string, RoomLiveJson | null>> =>
    d.listing !== undefined ? d.listing.live(names, local) : new Map(await Promise.all(names.map(async (n) => [n, await local(n)] as const)));
  const roomJson = (r: RoomInfo, live: RoomLiveJson | null): Record<string, unknown> => ({
    id: r.name, name: r.name, metadata: r.metadata, annotations: r.annotations, created_at: iso(r.createdAt), live,
  });
  const oneRoomJson = async (r: RoomInfo) => roomJson(r, (await liveOf([r.name])).get(r.name) ?? null);

  const findSession = async (sid: string): Promise<SessionRecord> => {
    const s = await ctx.sessions.get(sid);
    if (s === undefined) throw notFound(`session ${JSON.stringify(sid)} not found`);
    return s;
  };

  // ---- rooms ----

  app.get("/rooms", async (req: Req) => {
    const limit = intQuery(req.query.limit, "limit", 50, 1, 1000);
    const offset = intQuery(req.query.offset, "offset", 0, 0, Number.MAX_SAFE_INTEGER);
    // Live rooms are known even before their first row lands (a session starts synchronously).
    const page = await d.roomStore.list(limit, offset);
    const live = await liveOf(page.map((r) => r.name));
    return { rooms: page.map((r) => roomJson(r, live.get(r.name) ?? null)) };
  });

  app.post("/rooms", async (req: Req, reply) => {
    const body = parseBody(roomCreateBody, req.body, "room", "a JSON object {name, if_not_exists?, metadata?, annotations?}");
    const err = roomNameError(body.name);
    if (err !== null) throw new RoomserviceError(400, "invalid_room_name", err);
    const existing = await d.roomStore.get(body.name);
    if (existing !== undefined && body.if_not_exists !== true) throw new RoomserviceError(409, "conflict", `room ${JSON.stringify(body.name)} already exists (pass if_not_exists to get it instead)`);
    const created = await d.roomStore.create(body.name, body.metadata ?? {}, body.annotations ?? {}, ctx.clock.now());
    return reply.code(existing === undefined && created ? 201 : 200).send(await oneRoomJson((await d.roomStore.get(body.name))!));
  });

  app.get("/rooms/:room", async (req: Req) => {
    const r = (await d.roomStore.get(req.params.room!)) ?? (d.rooms.get(req.params.room!) !== undefined ? { name: req.params.room!, metadata: {}, annotations: {}, createdAt: ctx.clock.now() } : undefined);
    if (r === undefined) throw roomNotFound(req.params.room!);
    return await oneRoomJson(r);
  });

  // The SDK's updateRoom: metadata and annotations. A room's id is its name (the URL), and a
  // name cannot change (sessions, storage and tokens all name the room), so renames are refused.
  app.put("/rooms/:room", async (req: Req, reply) => {
    const room = req.params.room!;
    const b = parseBody(roomUpdateBody, req.body, "room", "a JSON object {name, metadata?, annotations?}");
    if (b.name !== undefined && b.name !== room) {
      const message = "rooms cannot be renamed: a room's id is its name; create a room with the new name instead";
      throw badRequest(`invalid room: name: ${message} (expected ${JSON.stringify(room)}, the room in the URL, got ${JSON.stringify(b.name)})`, {
        errors: [{ path: "name", message, expected: JSON.stringify(room), got: JSON.stringify(b.name), received: JSON.stringify(b.name) }],
      });
    }
    if (!(await roomKnown(d.rooms, d.roomStore, room))) throw roomNotFound(room);
    const fields: { metadata?: Record<string, unknown>; annotations?: Record<string, unknown> } = {};
    if (b.metadata !== undefined) fields.metadata = b.metadata ?? {};
    if (b.annotations !== undefined) fields.annotations = b.annotations ?? {};
    await d.roomStore.update(room, fields, ctx.clock.now());
    return reply.code(200).send(await oneRoomJson((await d.roomStore.get(room))!));
  });

  // The SDK's deleteRoom: everything the room has (rooms/room-delete.ts lists it), never while
  // a session is live — ending it is a separate, deliberate act.
  app.delete("/rooms/:room", async (req: Req, reply) => {
    const room = req.params.room!;
    if (!(await roomKnown(d.rooms, d.roomStore, room))) throw roomNotFound(room);
    if (d.rooms.deleting.has(room)) throw new RoomserviceError(409, "conflict", `room ${JSON.stringify(room)} is already being deleted`);
    d.rooms.deleting.add(room); // from here no connection is admitted (http/upgrade.ts)
    try {
      const live = d.rooms.get(room)?.session ?? null;
      const elsewhere = live === null ? (await liveOf([room])).get(room) ?? null : null;
      const sessionId = live?.id ?? elsewhere?.session_id;
      if (sessionId !== undefined) {
        throw new RoomserviceError(409, "conflict", `room ${JSON.stringify(room)} has a live session (${sessionId}); end it first — POST /accounts/projects/${ctx.projectId}/sessions/${sessionId}/terminate (the SDK's terminateSession, or Studio's End session) — then delete the room`);
      }
      const report = await d.deleteRoomData(room);
      ctx.logger.info({ room, removed: report, by: req.admin?.identity }, "room deleted");
      return reply.code(204).send();
    } finally {
      d.rooms.deleting.delete(room);
    }
  });

  app.get("/rooms/:room/sessions", async (req: Req) => {
    const limit = intQuery(req.query.limit, "limit", 100, 1, 1000);
    if (!(await roomKnown(d.rooms, d.roomStore, req.params.room!))) throw roomNotFound(req.params.room!);
    return { sessions: await Promise.all((await ctx.sessions.list(req.params.room!, limit)).map((s) => sessionJson(s, d.events))) };
  });

  // ---- sessions ----

  app.get("/sessions", async (req: Req) => {
    const limit = intQuery(req.query.limit, "limit", 100, 1, 1000);
    return { sessions: await Promise.all((await ctx.sessions.list(undefined, limit)).map((s) => sessionJson(s, d.events))) };
  });

  app.get("/sessions/active", async () => {
    const active = new Set(d.rooms.list().flatMap((r) => (r.session === null ? [] : [r.session.id])));
    // Clustered: every node's open sessions (those whose room a live lease covers).
    if (d.listing !== undefined) for (const id of await d.listing.activeSessionIds()) active.add(id);
    const found = (await Promise.all([...active].map((id) => ctx.sessions.get(id)))).filter((s) => s !== undefined);
    return { sessions: await Promise.all(found.map((s) => sessionJson(s, d.events))) };
  });

  app.get("/sessions/:sid", async (req: Req) => {
    const s = await findSession(req.params.sid!);
    await d.events.flush(); // include this turn's joins and leaves
    return { ...await sessionJson(s, d.events), participants_detail: await d.events.participants(s.id), services: await d.events.services(s.id) };
  });

  app.get("/sessions/:sid/events", async (req: Req) => {
    const s = await findSession(req.params.sid!);
    await d.events.flush(); // include this turn's events
    return { events: await d.events.events(s.id, s.room) };
  });

  // `?after=<ISO time>` (samples taken later only) and `?limit=N` (the newest N): what a
  // stream client that reconnected asks for to fill its chart's gap (docs/studio-api.md).
  app.get("/sessions/:sid/metrics", async (req: Req) => {
    const s = await findSession(req.params.sid!);
    const after = req.query.after === undefined ? null : Date.parse(req.query.after);
    if (Number.isNaN(after)) throw badRequest(`after: expected an ISO 8601 time (e.g. 2026-01-02T03:04:05.678Z), got ${JSON.stringify(req.query.after)}`);
    const limit = intQuery(req.query.limit, "limit", 100_000, 1, 100_000);
    await d.events.flush();
    const all = await d.events.stats(s.id, req.query.service);
    const later = after === null ? all : all.filter((m) => Date.parse(m.at) > after);
    return { metrics: later.slice(-limit) };
  });

  app.post("/sessions/:sid/terminate", async (req: Req, reply) => {
    const s = await findSession(req.params.sid!);
    const room = d.rooms.get(s.room);
    if (s.endedAt !== null || room?.session?.id !== s.id) throw new RoomserviceError(409, "session_ended", `session ${s.id} of room ${s.room} has already ended${s.endReason ? ` (${s.endReason})` : ""}`);
    ctx.logger.info({ room: s.room, session: s.id, by: req.admin?.identity }, "session terminated through the API");
    room.endSession("terminated");
    return reply.code(204).send();
  });

  // ---- API keys ----

  app.post("/api-keys", async (req: Req, reply) => {
    const b = parseBody(apiKeyCreateBody, req.body, "API key", "a JSON object {name, description?}");
    const now = ctx.clock.now();
    const k = await d.apiKeys.create(ctx.projectId, b.name, now, b.description ?? "");
    ctx.logger.info({ key: k.id, name: b.name, by: req.admin?.identity }, "API key created");
    // The key's value is shown this once; only its hash is stored.
    return reply.code(201).send({ id: k.id, name: b.name, description: b.description ?? "", created_at: iso(now), value: k.key });
  });

  app.get("/api-keys", async () => ({
    keys: (await d.apiKeys.list(ctx.projectId)).map((k) => ({ id: k.id, name: k.name, description: k.description, created_at: iso(k.createdAt) })),
  }));

  app.delete("/api-keys/:id", async (req: Req, reply) => {
    const id = req.params.id!;
    if (!(await d.apiKeys.list(ctx.projectId)).some((k) => k.id === id)) throw notFound(`API key ${JSON.stringify(id)} not found`);
    await d.apiKeys.delete(id);
    await d.browserSessions.revokeApiKey(id);
    ctx.logger.info({ key: id, by: req.admin?.identity }, "API key deleted");
    return reply.code(204).send();
  });
}
