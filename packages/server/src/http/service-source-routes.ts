import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerContext } from "../context.ts";
import type { ServiceStore } from "../services/service-store.ts";
import { badRequest, notFound, RoomserviceError } from "./errors.ts";

/** A manifest's text is small; this bounds what one service keeps. */
export const MAX_SOURCE_BYTES = 256 * 1024;

type Req = FastifyRequest<{ Params: { project: string; room?: string; id: string }; Body: unknown }>;

/**
 * The YAML text a service was saved as, so an editor shows the user's own text (comments,
 * flow maps, key order) again instead of a rendering of the stored JSON:
 *
 * - `GET .../services/{id}/source` → `{yaml, revision, current_revision}`: the text and the
 *   service revision it describes (both null when none was saved). `revision` older than
 *   `current_revision` means the service was changed another way since (JSON, the form).
 * - `PUT .../services/{id}/source` `{yaml, revision}` keeps the text of that revision; 409
 *   when the service is no longer at it (saved meanwhile by someone else).
 *
 * The service itself is still saved as JSON (POST/PUT .../services); the text never changes
 * what runs. On the project (`/services/...`) and room (`/rooms/{room}/services/...`) routes.
 */
export function registerServiceSourceRoutes(app: FastifyInstance, d: { ctx: ServerContext; services: ServiceStore }): void {
  const find = async (req: Req) => {
    const room = req.params.room ?? null;
    const s = await d.services.get(req.params.id);
    if (s === undefined || s.project !== d.ctx.projectId || s.room !== room) {
      throw notFound(`service ${JSON.stringify(req.params.id)} not found${room === null ? " in the project" : ` in room ${JSON.stringify(room)}`}`);
    }
    return s;
  };
  for (const prefix of ["", "/rooms/:room"]) {
    app.get(`${prefix}/services/:id/source`, async (req: Req) => {
      const s = await find(req);
      const src = await d.services.source(s.id);
      return { yaml: src?.yaml ?? null, revision: src?.version ?? null, current_revision: s.version };
    });
    app.put(`${prefix}/services/:id/source`, async (req: Req) => {
      const s = await find(req);
      const b = req.body as { yaml?: unknown; revision?: unknown } | null;
      if (typeof b !== "object" || b === null || typeof b.yaml !== "string" || !Number.isInteger(b.revision)) {
        throw badRequest('body must be {"yaml": "<manifest text>", "revision": <the service revision it describes>}');
      }
      if (Buffer.byteLength(b.yaml) > MAX_SOURCE_BYTES) throw badRequest(`yaml: at most ${MAX_SOURCE_BYTES} bytes (got ${Buffer.byteLength(b.yaml)})`);
      if (b.revision !== s.version) {
        throw new RoomserviceError(409, "conflict", `service ${s.id} is at revision ${s.version}, not ${String(b.revision)}: it was saved again meanwhile`);
      }
      await d.services.setSource(s.id, s.version, b.yaml, d.ctx.clock.now());
      return { revision: s.version };
    });
  }
}
