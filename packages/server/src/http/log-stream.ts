import type { FastifyInstance, FastifyRequest } from "fastify";
import { createReadStream, existsSync } from "node:fs";
import type { ServiceLauncher } from "../services/launcher.ts";
import { badRequest, notFound } from "./errors.ts";

/**
 * GET /rooms/:room/sessions/:session/services/:id/logs (in the authenticated project scope):
 * a session's kept log of one service, as JSON lines of `LogLine` (docs/studio-api.md). The
 * live SSE log stream of a service is in room-stream.ts.
 */
export function registerKeptLogs(app: FastifyInstance, launcher: ServiceLauncher): void {
  app.get(
    "/rooms/:room/sessions/:session/services/:id/logs",
    async (req: FastifyRequest<{ Params: { project: string; room: string; session: string; id: string } }>, reply) => {
      const { room, session, id } = req.params;
      if (![session, id].every((p) => /^[A-Za-z0-9._-]+$/.test(p) && !p.includes(".."))) throw badRequest("invalid session or service id");
      const file = launcher.sessionLogFile(room, session, id);
      if (!existsSync(file)) throw notFound(`no logs for service ${id} in session ${session} of room ${room}`);
      reply.header("content-type", "application/x-ndjson");
      return reply.send(createReadStream(file));
    },
  );
}
