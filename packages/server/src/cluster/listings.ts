import type { FastifyInstance } from "fastify";
import type pg from "pg";
import { z } from "zod";
import type { Logger } from "pino";
import { iso } from "@roomservice/protocol";
import { mintParticipantToken } from "../auth/tokens.ts";
import type { Clock } from "../config.ts";
import { parseBody } from "../http/bodies.ts";
import type { RoomLiveJson, RoomsListing } from "../http/rooms-rest.ts";
import { FORWARDED_BY_HEADER } from "./forward.ts";
import type { ClusterNode } from "./node.ts";

/** How long one owner may take to answer for its rooms before the store's record is used. */
export const OWNER_ANSWER_TIMEOUT_MS = 3_000;
/** The internal route a node asks an owner with (in the authenticated REST scope). */
export const LIVE_ROOMS_PATH = "/cluster/live-rooms";
/** How long `/healthz` reuses its cluster counts (ms): a flood of probes makes one query a second. */
export const HEALTH_CACHE_MS = 1_000;
/** What `/healthz` says when the database did not answer (the details are in the node's log, not for anonymous callers). */
export const HEALTH_DB_ERROR = "the cluster database did not answer (details in this node's log)";
/** Rooms per question to one owner (a listing page is at most 1,000). */
const MAX_NAMES = 1000;

/** What `GET /healthz` answers on a cluster node. */
export interface ClusterHealth {
  ok: true;
  node: string;
  /** Rooms live in the whole cluster (open sessions whose room a live lease covers); null when the database did not answer. */
  rooms: number | null;
  /** Rooms live on this node. */
  local_rooms: number;
  /** Nodes whose heartbeat is fresh; null when the database did not answer. */
  nodes: number | null;
  error?: string;
}

/**
 * Cluster-wide listings (issue 11 gap 2): `GET /rooms` (its `live` part), `/sessions/active`
 * and `/healthz` answer the same from every node. Which rooms are live, and where, comes
 * from the database (live leases, open session rows); the live details only the owner knows
 * (participants now, the services' health badge) are asked of each owner — one request per
 * owner node per listing page, in parallel, bounded by OWNER_ANSWER_TIMEOUT_MS. An owner that
 * does not answer in time is described from the store instead (session id and start, open
 * participant rows, health "unknown"), so a listing never hangs on one slow node.
 */
export class ClusterListings implements RoomsListing {
  private readonly node: ClusterNode;
  private readonly d: { projectId: string; secret: string; clock: Clock; logger: Logger; localRooms: () => number };
  private token: { value: string; until: number } | null = null;
  /** The `/healthz` counts being asked or last answered (settledAt: this node's clock, ms). */
  private healthCounts: { counts: Promise<{ rooms: number; nodes: number } | null>; settledAt: number | null } | null = null;

  constructor(node: ClusterNode, d: ClusterListings["d"]) {
    this.node = node;
    this.d = d;
  }

  async live(names: string[], local: (name: string) => Promise<RoomLiveJson | null>): Promise<Map<string, RoomLiveJson | null>> {
    const out = new Map<string, RoomLiveJson | null>();
    if (names.length === 0) return out;
    const owners = await this.node.pool.query<{ room: string; node_id: string; url: string }>(
      `SELECT l.room, l.node_id, n.url FROM room_leases l JOIN cluster_nodes n USING (node_id)
       WHERE l.room = ANY($1::text[]) AND l.expires_at > now()`,
      [names],
    );
    const ownerOf = new Map(owners.rows.map((r) => [r.room, r]));
    const remote = new Map<string, string[]>(); // owner url → rooms
    await Promise.all(names.map(async (name) => {
      const o = ownerOf.get(name);
      // Ours, or no live lease anywhere (not live, unless still winding down here): this node knows.
      if (o === undefined || o.node_id === this.node.nodeId) out.set(name, await local(name));
      else remote.set(o.url, [...(remote.get(o.url) ?? []), name]);
    }));
    await Promise.all([...remote].map(async ([url, rooms]) => {
      try {
        // A Map, not an index into the parsed object: a room named "constructor" or "__proto__" is a room.
        const answer = new Map(Object.entries(await this.ask(url, rooms)));
        for (const r of rooms) out.set(r, answer.get(r) ?? null);
      } catch (err) {
        this.d.logger.warn({ owner: url, rooms: rooms.length, err: (err as Error).message }, "an owner node did not describe its rooms; listing them from the store");
        const fromStore = await this.fromStore(rooms);
        for (const r of rooms) out.set(r, fromStore.get(r) ?? null);
      }
    }));
    return out;
  }

  /** Ids of the sessions open on any node: open rows whose room a live lease covers. */
  async activeSessionIds(): Promise<string[]> {
    const r = await this.node.pool.query<{ id: string }>(
      `SELECT s.id FROM sessions s JOIN room_leases l ON l.room = s.room AND l.expires_at > now()
       WHERE s.ended_at IS NULL ORDER BY s.started_at, s.id`,
    );
    return r.rows.map((x) => x.id);
  }

  /**
   * `/healthz`: cluster-wide counts from the database, this node's own count, never an error
   * status. `/healthz` is public, so the counts are one query however many callers wait for
   * it, reused for HEALTH_CACHE_MS after it answered; a failure answers a fixed message (the
   * database's own error names hosts and users: it goes to this node's log only).
   */
  async health(): Promise<ClusterHealth> {
    const local = this.d.localRooms();
    const now = this.d.clock.now();
    const c = this.healthCounts;
    if (c === null || (c.settledAt !== null && now - c.settledAt >= HEALTH_CACHE_MS)) {
      const entry: { counts: Promise<{ rooms: number; nodes: number } | null>; settledAt: number | null } = { counts: this.countHealth(), settledAt: null };
      void entry.counts.then(() => (entry.settledAt = this.d.clock.now()));
      this.healthCounts = entry;
    }
    const counts = await this.healthCounts!.counts;
    return counts === null
      ? { ok: true, node: this.node.nodeId, rooms: null, local_rooms: local, nodes: null, error: HEALTH_DB_ERROR }
      : { ok: true, node: this.node.nodeId, rooms: counts.rooms, local_rooms: local, nodes: counts.nodes };
  }

  /** One health query, bounded; null (logged) when the database did not answer. */
  private async countHealth(): Promise<{ rooms: number; nodes: number } | null> {
    try {
      const r = await this.node.pool.query<{ rooms: number; nodes: number }>({
        text: `SELECT (SELECT count(*)::int FROM sessions s JOIN room_leases l ON l.room = s.room AND l.expires_at > now() WHERE s.ended_at IS NULL) AS rooms,
                (SELECT count(*)::int FROM cluster_nodes WHERE last_seen > now() - $1 * interval '1 millisecond') AS nodes`,
        values: [this.node.timing.leaseTtlMs],
        query_timeout: OWNER_ANSWER_TIMEOUT_MS,
      } as pg.QueryConfig);
      return r.rows[0]!;
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message }, "health: the cluster database did not answer");
      return null;
    }
  }

  /** Asks the owner at `url` for the live parts of `rooms` (its LIVE_ROOMS_PATH route). */
  private async ask(url: string, rooms: string[]): Promise<Record<string, RoomLiveJson | null>> {
    const res = await fetch(`${url}/accounts/projects/${encodeURIComponent(this.d.projectId)}${LIVE_ROOMS_PATH}`, {
      method: "POST",
      headers: { authorization: `Bearer ${await this.adminToken()}`, "content-type": "application/json", [FORWARDED_BY_HEADER]: this.node.nodeId },
      body: JSON.stringify({ names: rooms }),
      signal: AbortSignal.timeout(OWNER_ANSWER_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`${res.status} ${(await res.text()).slice(0, 200)}`);
    return ((await res.json()) as { rooms: Record<string, RoomLiveJson | null> }).rooms;
  }

  /** What the store says about rooms whose owner did not answer. */
  private async fromStore(rooms: string[]): Promise<Map<string, RoomLiveJson>> {
    const r = await this.node.pool.query<{ room: string; id: string; started_at: string; participants: number }>(
      `SELECT s.room, s.id, s.started_at::text AS started_at,
              (SELECT count(*)::int FROM session_participants p WHERE p.session_id = s.id AND p.left_at IS NULL) AS participants
       FROM sessions s WHERE s.room = ANY($1::text[]) AND s.ended_at IS NULL`,
      [rooms],
    );
    return new Map(r.rows.map((x) => [x.room, { session_id: x.id, started_at: iso(Number(x.started_at)), participants: x.participants, health: "unknown" as const }]));
  }

  /** A short-lived admin token this node presents to the others (every node holds the project secret). */
  private async adminToken(): Promise<string> {
    const now = this.d.clock.now();
    if (this.token !== null && this.token.until > now) return this.token.value;
    const value = await mintParticipantToken(this.d.secret, { room: "*", identity: `node:${this.node.nodeId}`, role: "user", ttlSeconds: 120, api: { admin: {} } as never });
    this.token = { value, until: now + 60_000 };
    return value;
  }
}

/**
 * The owner's side: `POST {LIVE_ROOMS_PATH}` with `{"names": [...]}` answers the live parts of
 * those rooms as this node sees them (null for rooms not live here). Registered in the
 * authenticated REST scope; other nodes call it with an admin token.
 */
export function registerClusterRoutes(api: FastifyInstance, local: (name: string) => Promise<RoomLiveJson | null>): void {
  api.post(LIVE_ROOMS_PATH, async (req) => {
    const { names } = parseBody(liveRoomsBody, req.body, "live-rooms request", `{"names": [room names, at most ${MAX_NAMES}]}`);
    // Keyed by caller-chosen names: a Map, turned into a plain JSON object only at the end
    // (Object.fromEntries defines own properties: "__proto__" is a room like any other).
    const rooms = new Map<string, RoomLiveJson | null>();
    await Promise.all(names.map(async (n) => rooms.set(n, await local(n))));
    return { rooms: Object.fromEntries(rooms) };
  });
}

/** `POST {LIVE_ROOMS_PATH}`: the rooms a node asks an owner about. */
export const liveRoomsBody = z.strictObject({
  names: z.array(z.string().min(1)).max(MAX_NAMES),
});
