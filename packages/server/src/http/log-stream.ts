import type { FastifyInstance, FastifyRequest } from "fastify";
import { createReadStream, existsSync } from "node:fs";
import type { ServerContext } from "../context.ts";
import { requireAdmin } from "../services/admin-auth.ts";
import type { ApiKeyStore } from "../services/api-keys.ts";
import type { ServiceLauncher } from "../services/launcher.ts";

/**
 * GET /accounts/projects/:project/rooms/:room/services/:id/logs — Server-Sent Events: the
 * service's recent lines (already masked), then live lines until the client disconnects.
 * Admin auth; `?token=` is accepted too because EventSource cannot set headers.
 */
export function registerLogStream(app: FastifyInstance, ctx: ServerContext, keys: ApiKeyStore, launcher: ServiceLauncher): void {
  // A past (or current) session's log of one service, as JSON lines.
  app.get(
    "/accounts/projects/:project/rooms/:room/sessions/:session/services/:id/logs",
    async (req: FastifyRequest<{ Params: { project: string; room: string; session: string; id: string } }>, reply) => {
      const admin = await requireAdmin(ctx, keys, req, reply);
      if (admin === undefined) return reply;
      const { room, session, id } = req.params;
      if (![room, session, id].every((p) => /^[A-Za-z0-9._-]+$/.test(p) && !p.includes(".."))) return reply.code(400).send({ error: "invalid room, session or service id" });
      const file = launcher.sessionLogFile(room, session, id);
      if (!existsSync(file)) return reply.code(404).send({ error: `no logs for service ${id} in session ${session} of room ${room}` });
      reply.header("content-type", "application/x-ndjson");
      return reply.send(createReadStream(file));
    },
  );

  app.get(
    "/accounts/projects/:project/rooms/:room/services/:id/logs",
    async (req: FastifyRequest<{ Params: { project: string; room: string; id: string }; Querystring: { token?: string } }>, reply) => {
      if (req.headers.authorization === undefined && typeof req.query.token === "string") req.headers.authorization = `Bearer ${req.query.token}`;
      const admin = await requireAdmin(ctx, keys, req, reply);
      if (admin === undefined) return reply;
      if (req.params.project !== ctx.projectId) return reply.code(404).send({ error: `project ${JSON.stringify(req.params.project)} not found` });
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      const send = (l: unknown) => res.write(`event: log\ndata: ${JSON.stringify(l)}\n\n`);
      const { history, unsubscribe } = launcher.subscribeLogs(req.params.room, req.params.id, send);
      for (const l of history) send(l);
      res.write(": live\n\n");
      const keepAlive = setInterval(() => res.write(": ping\n\n"), 15000);
      req.raw.on("close", () => {
        clearInterval(keepAlive);
        unsubscribe();
      });
    },
  );
}
