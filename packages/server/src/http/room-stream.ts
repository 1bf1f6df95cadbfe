import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerContext } from "../context.ts";
import type { Activity } from "../services/activity.ts";
import type { ServiceStore } from "../services/service-store.ts";
import { badRequest, notFound } from "./errors.ts";
import { SseClient } from "./sse.ts";

export interface StreamLimits {
  /** Bytes queued for one SSE client before it is dropped as too slow. */
  maxSseBufferedBytes: number;
  /** Interval of `: ping` comments (keeps proxies and the browser's EventSource from timing out). */
  heartbeatMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxSseBufferedBytes: 1024 * 1024, heartbeatMs: 15_000 };

export interface StreamDeps {
  ctx: ServerContext;
  activity: Activity;
  services: ServiceStore;
  limits: StreamLimits;
  /** Every open stream, so shutdown can end them (a connected EventSource must not keep the server up). */
  clients: Set<SseClient>;
}

type Req = FastifyRequest<{ Params: { project: string; room: string; id?: string }; Querystring: { token?: string; last_event_id?: string } }>;

/** `Last-Event-ID` (EventSource sends it on reconnect) or `?last_event_id=`; null when absent. */
function lastEventId(req: Req): number | null {
  const h = req.headers["last-event-id"];
  const raw = typeof h === "string" && h !== "" ? h : req.query.last_event_id;
  if (raw === undefined || raw === "") return null;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`Last-Event-ID: expected an event id (a non-negative integer), got ${JSON.stringify(String(raw).slice(0, 40))}`);
  return n;
}

/**
 * The SSE streams (auth by the REST scope's hook; `?token=` accepted because EventSource
 * cannot set headers):
 * - `GET /rooms/:room/stream`: the room as one story — snapshot, service states, events,
 *   participants, session start/end, stats samples and log lines (docs/studio-api.md).
 * - `GET /rooms/:room/services/:id/logs`: one service's log lines and events (404 for a service
 *   the room does not have).
 * Both follow the room's current session only, resume after `Last-Event-ID` from what is
 * still buffered, send `: ping` heartbeats and drop a client that stops reading.
 */
export function registerRoomStreams(app: FastifyInstance, d: StreamDeps): void {
  const start = async (req: Req, reply: { hijack(): void; raw: import("node:http").ServerResponse }, o: { serviceId?: string; onlyLogs?: boolean }) => {
    const last = lastEventId(req);
    const snapshot = o.onlyLogs === true ? undefined : await d.activity.snapshot(req.params.room);
    reply.hijack();
    let unsubscribe: (() => void) | null = null;
    const client: SseClient = new SseClient({
      res: reply.raw, maxBufferedBytes: d.limits.maxSseBufferedBytes, clock: d.ctx.clock, heartbeatMs: d.limits.heartbeatMs,
      onClose: () => {
        d.clients.delete(client);
        unsubscribe?.();
      },
    });
    d.clients.add(client);
    // Replay at most half the client's bound: the rest is room for live messages.
    unsubscribe = d.activity.subscribe(req.params.room, client, { lastEventId: last, maxReplayBytes: d.limits.maxSseBufferedBytes / 2, ...o, ...(snapshot === undefined ? {} : { snapshot }) });
    if (!client.open) unsubscribe();
    return client;
  };

  app.get("/rooms/:room/stream", { config: { queryToken: true } }, async (req: Req, reply) => {
    await start(req, reply, {});
  });

  app.get("/rooms/:room/services/:id/logs", { config: { queryToken: true } }, async (req: Req, reply) => {
    const s = await d.services.findForRoom(d.ctx.projectId, req.params.room, req.params.id!);
    if (s === undefined) throw notFound(`service ${JSON.stringify(req.params.id)} is not configured for room ${JSON.stringify(req.params.room)} (give its id or name)`);
    const client = await start(req, reply, { serviceId: s.id, onlyLogs: true });
    client.comment("live");
  });
}
