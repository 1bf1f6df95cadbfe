import type { FastifyInstance } from "fastify";
import { jwtVerify } from "jose";
import type { ServerContext } from "../context.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import { RoomStorage } from "../storage/room-storage.ts";
import { contentDisposition, mimeTypeFor } from "../storage/paths.ts";
import { ToolError } from "../toolkits/types.ts";

/** GET /rooms/:room/storage/download?token=… — the URL handed out by storage.download_url. */
export function registerStorageRoutes(app: FastifyInstance, ctx: ServerContext, rooms: RoomManager): void {
  app.get<{ Params: { room: string }; Querystring: { token?: string } }>("/rooms/:room/storage/download", async (req, reply) => {
    const token = req.query.token;
    if (typeof token !== "string" || token.length === 0) return reply.code(403).send({ error: "missing token query parameter" });
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, new TextEncoder().encode(ctx.secret), {
        algorithms: ["HS256"],
        currentDate: new Date(ctx.clock.now()),
      }));
    } catch (err) {
      return reply.code(403).send({ error: `download token rejected: ${(err as Error).message}` });
    }
    if (claims.purpose !== "storage.download" || claims.room !== req.params.room || typeof claims.path !== "string") {
      return reply.code(403).send({ error: "download token is not valid for this room" });
    }
    const storage = new RoomStorage(rooms.roomDir(req.params.room));
    try {
      // Streamed from the fd opened through held directory fds: never reopened by name.
      const { fh, size } = await storage.openRead(claims.path);
      const name = claims.path.split("/").pop()!;
      reply.header("content-type", mimeTypeFor(name));
      reply.header("content-length", String(size));
      reply.header("content-disposition", contentDisposition(name));
      if (size === 0) {
        await fh.close();
        return reply.send(Buffer.alloc(0));
      }
      return reply.send(fh.createReadStream({ start: 0, end: size - 1, autoClose: true }));
    } catch (err) {
      if (err instanceof ToolError) return reply.code(err.code ?? 400).send({ error: err.message });
      throw err;
    }
  });
}
