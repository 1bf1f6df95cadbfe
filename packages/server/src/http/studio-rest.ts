import type { FastifyInstance, FastifyRequest } from "fastify";
import { createReadStream, existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import type { ServerContext } from "../context.ts";
import type { Activity } from "../services/activity.ts";
import type { ActivityLogLine } from "@roomservice/protocol";
import { disabledMessage, LaunchError } from "../services/launch-spec.ts";
import type { ServiceLauncher } from "../services/launcher.ts";
import type { ServiceRecord, ServiceStore } from "../services/service-store.ts";
import { badRequest, notFound, RoomserviceError } from "./errors.ts";
import { manifestErrorsJson } from "./rest.ts";
import { MANIFEST_BODY_FORMS, manifestFromBody } from "./manifest-body.ts";
import { manifestWarningsJson, missingImageWarning } from "../services/service-warnings.ts";

export interface StudioRestDeps {
  ctx: ServerContext;
  services: ServiceStore;
  launcher: ServiceLauncher;
  activity: Activity;
  /** Whether an image exists where services run (Docker runtime only); absent: not checked. */
  imageExists?: (image: string) => Promise<boolean>;
  /** Throws the 404 for a room the server has never seen (rooms-rest.ts roomNotFound). */
  requireRoom: (room: string) => Promise<void>;
}

type Req = FastifyRequest<{ Params: { project: string; room?: string; id?: string; sid?: string }; Querystring: Record<string, string | undefined>; Body: unknown }>;

/** Ids that become path segments of log files: no separators, no "..". */
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The last `limit` lines of a JSON-lines log file (streamed: the file may be large). */
async function tailLines(file: string, limit: number): Promise<{ lines: ActivityLogLine[]; total: number }> {
  const ring: string[] = [];
  let total = 0;
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  for await (const l of rl) {
    if (l === "") continue;
    total++;
    ring.push(l);
    if (ring.length > limit) ring.shift();
  }
  const lines: ActivityLogLine[] = [];
  for (const l of ring) {
    try {
      lines.push(JSON.parse(l) as ActivityLogLine);
    } catch {
      // a line cut by a crash: skip it
    }
  }
  return { lines, total };
}

/**
 * Roomservice's own routes for Studio: a room's live state, restart/stop of a service in the
 * live session, a session's kept logs, and manifest validation without saving.
 */
export function registerStudioRest(app: FastifyInstance, d: StudioRestDeps): void {
  const { ctx } = d;

  /** A service configured for `room` (a room service of it, or a project service), by id or name. */
  const serviceOfRoom = async (room: string, id: string): Promise<ServiceRecord> => {
    const s = await d.services.findForRoom(ctx.projectId, room, id);
    if (s === undefined) throw notFound(`service ${JSON.stringify(id)} is not configured for room ${JSON.stringify(room)} (give its id or name)`);
    return s;
  };

  app.get("/rooms/:room/live", async (req: Req) => {
    await d.requireRoom(req.params.room!);
    return await d.activity.snapshot(req.params.room!);
  });

  for (const action of ["restart", "stop"] as const) {
    app.post(`/rooms/:room/services/:id/${action}`, async (req: Req, reply) => {
      const room = req.params.room!;
      const rec = await serviceOfRoom(room, req.params.id!);
      // A disabled service never runs: a restart must not start it behind its manifest's back.
      if (action === "restart" && rec.spec.enabled === false) throw new RoomserviceError(409, "conflict", disabledMessage(rec));
      if (d.launcher.liveSession(room) === undefined) {
        throw new RoomserviceError(409, "no_session", `room ${room} has no live session: the service starts with the room's next session`);
      }
      ctx.logger.info({ room, service: rec.id, name: rec.name, by: req.admin?.identity }, `service ${action} requested`);
      const work = action === "restart" ? d.launcher.restart(room, rec.id) : d.launcher.stopService(room, rec.id);
      // Accepted now; progress shows on the room stream. A failure that is the caller's
      // (no session any more, service not part of it) still answers here when it is quick.
      const early = await Promise.race([work.then(() => null, (err: unknown) => err), new Promise((r) => setImmediate(r, null))]);
      work.catch((err: unknown) => ctx.logger.warn({ err, room, service: rec.id }, `service ${action} failed`));
      if (early instanceof LaunchError) throw new RoomserviceError(409, "no_session", early.message);
      if (early instanceof Error) throw early;
      return reply.code(202).send({ ok: true });
    });
  }

  app.get("/sessions/:sid/logs", async (req: Req) => {
    const sid = req.params.sid!;
    const s = await ctx.sessions.get(sid);
    if (s === undefined) throw notFound(`session ${JSON.stringify(sid)} not found`);
    const service = req.query.service;
    if (service !== undefined && !SAFE_ID.test(service)) throw badRequest(`service: not a service id: ${JSON.stringify(service.slice(0, 80))}`);
    const limitRaw = req.query.limit;
    const limit = limitRaw === undefined ? 10_000 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw badRequest(`limit: expected an integer from 1 to 100000, got ${JSON.stringify(limitRaw)}`);
    const dir = dirname(d.launcher.sessionLogFile(s.room, s.id, "x"));
    const ids = service !== undefined ? [service] : (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".log")).map((f) => f.slice(0, -4));
    let lines: ActivityLogLine[] = [];
    let total = 0;
    for (const id of ids) {
      const file = d.launcher.sessionLogFile(s.room, s.id, id);
      if (!existsSync(file)) continue;
      const t = await tailLines(file, limit);
      lines = lines.concat(t.lines);
      total += t.total;
    }
    lines.sort((a, b) => a.seq - b.seq);
    if (lines.length > limit) lines = lines.slice(lines.length - limit);
    return { lines, truncated: total > lines.length };
  });

  app.post("/services/validate", async (req: Req) => {
    const r = manifestFromBody(req.body);
    if (r === null) throw badRequest(`body must be ${MANIFEST_BODY_FORMS}`);
    if (!r.ok) return { ok: false, errors: manifestErrorsJson(r.errors), warnings: manifestWarningsJson(r.warnings) };
    // Valid is not enough when the image is missing: the service would only fail at the next
    // session. The same check runs on create and update (services/service-warnings.ts).
    return { ok: true, warnings: [...manifestWarningsJson(r.warnings), ...await missingImageWarning(r.manifest.container?.image, d.imageExists)] };
  });
}
