import { SignJWT } from "jose";
import { binary, json, empty, type Content } from "@roomservice/protocol";
import { checkStoragePath, PermissionDenied } from "../auth/scope.ts";
import type { StreamCall } from "../rooms/connection.ts";
import { normalizeStoragePath, mimeTypeFor } from "../storage/paths.ts";
import type { Upload } from "../storage/room-storage.ts";
import { SessionEndedError, type Hold, type HoldOptions } from "../rooms/room.ts";
import { jsonInput, optionalBool, ToolError, type BuiltinToolkit, type ToolContext } from "./types.ts";

/** How much the server asks for per pull, and how many pulls it keeps outstanding. */
const UPLOAD_CHUNK_BYTES = 512 * 1024;
const UPLOAD_WINDOW = 4;
/** Download chunks sent ahead of the client's pulls. */
const DOWNLOAD_WINDOW = 8;
const DOWNLOAD_URL_TTL_SECONDS = 300;
const MIN_DOWNLOAD_CHUNK_BYTES = 1024 * 1024;
/**
 * An upload must make progress: at least UPLOAD_PROGRESS_BYTES (or its end) within every
 * UPLOAD_IDLE_MS, else it is aborted (error 408 to the caller) and its temp file removed.
 * An abandoned or trickling upload therefore holds nothing for long (issue #12 item 19).
 */
export const UPLOAD_IDLE_MS = 30_000;
export const UPLOAD_PROGRESS_BYTES = 64 * 1024;

function canRead(ctx: ToolContext, path: string): void {
  checkStoragePath(ctx.conn.principal.api, path, "read");
}
function canWrite(ctx: ToolContext, path: string): void {
  checkStoragePath(ctx.conn.principal.api, path, "write");
}

function fileEvent(ctx: ToolContext, type: string, header: Record<string, unknown>): void {
  ctx.room.broadcastEvent(type, { ...header, participant_id: ctx.conn.participantId }, ctx.conn);
}

async function list(ctx: ToolContext, input: Content): Promise<Content> {
  const path = normalizeStoragePath(jsonInput(input, "storage.list").path ?? "", { allowRoot: true });
  canRead(ctx, path);
  return json({ files: await ctx.room.storage.list(path) });
}

async function stat(ctx: ToolContext, input: Content): Promise<Content> {
  const path = normalizeStoragePath(jsonInput(input, "storage.stat").path, { allowRoot: true });
  canRead(ctx, path);
  const e = await ctx.room.storage.stat(path);
  return json(e === null ? { exists: false } : { exists: true, ...e });
}

async function existsTool(ctx: ToolContext, input: Content): Promise<Content> {
  const path = normalizeStoragePath(jsonInput(input, "storage.exists").path, { allowRoot: true });
  canRead(ctx, path);
  return json({ exists: (await ctx.room.storage.stat(path)) !== null });
}

async function del(ctx: ToolContext, input: Content): Promise<Content> {
  const args = jsonInput(input, "storage.delete");
  const path = normalizeStoragePath(args.path, { allowRoot: false });
  canWrite(ctx, path);
  await ctx.room.storage.delete(path, optionalBool(args, "recursive", "storage.delete") ?? false);
  fileEvent(ctx, "storage.file.deleted", { path });
  return empty();
}

async function move(ctx: ToolContext, input: Content): Promise<Content> {
  const args = jsonInput(input, "storage.move");
  const from = normalizeStoragePath(args.source_path, { allowRoot: false, field: "source_path" });
  const to = normalizeStoragePath(args.destination_path, { allowRoot: false, field: "destination_path" });
  canWrite(ctx, from);
  canWrite(ctx, to);
  await ctx.room.storage.move(from, to, optionalBool(args, "overwrite", "storage.move") ?? false);
  fileEvent(ctx, "storage.file.moved", { source_path: from, destination_path: to });
  return empty();
}

async function downloadUrl(ctx: ToolContext, input: Content): Promise<Content> {
  const path = normalizeStoragePath(jsonInput(input, "storage.download_url").path, { allowRoot: false });
  canRead(ctx, path);
  if ((await ctx.room.storage.stat(path)) === null) throw new ToolError(`storage: file ${JSON.stringify(path)} does not exist`, 404);
  const now = Math.floor(ctx.server.clock.now() / 1000);
  const token = await new SignJWT({ purpose: "storage.download", room: ctx.room.name, path })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + DOWNLOAD_URL_TTL_SECONDS)
    .sign(new TextEncoder().encode(ctx.server.secret));
  const url = `${ctx.conn.httpBaseUrl}/rooms/${encodeURIComponent(ctx.room.name)}/storage/download?token=${token}`;
  return json({ url });
}

function startChunk(c: Content | null, tool: string): Record<string, unknown> {
  if (c === null || c.type !== "binary" || c.headers.kind !== "start") {
    throw new ToolError(`${tool}: the first request chunk must be binary content with headers.kind "start"`, 400);
  }
  return c.headers;
}

function holdOrRefuse(ctx: ToolContext, o: HoldOptions): Hold {
  try {
    return ctx.room.hold(o);
  } catch (err) {
    if (err instanceof SessionEndedError) throw new ToolError(err.message, 409);
    throw err;
  }
}

async function upload(ctx: ToolContext, call: StreamCall): Promise<void> {
  const start = startChunk(await call.next(), "storage.upload");
  const path = normalizeStoragePath(start.path, { allowRoot: false });
  canWrite(ctx, path);
  const declared = typeof start.size === "number" && start.size >= 0 ? start.size : null;
  let up: Upload | null = null;
  // Owned by the caller: a service's upload never keeps the session open; every upload has
  // the idle bound. hold() throws once the session has ended.
  const hold = holdOrRefuse(ctx, {
    owner: { kind: "participant", conn: ctx.conn },
    reason: `upload ${path}`,
    idleTimeoutMs: UPLOAD_IDLE_MS,
    onExpire: () => {
      void up?.abort();
      call.fail(`storage.upload: ${JSON.stringify(path)} made no progress (less than ${UPLOAD_PROGRESS_BYTES} bytes) for ${UPLOAD_IDLE_MS / 1000} s; upload aborted`, 408);
    },
  });
  try {
    up = await ctx.room.storage.beginUpload(path, start.overwrite === true);
    const active = up;
    call.onAbort = () => void active.abort();
    if (call.closed) {
      await active.abort(); // expired or the caller left while the temp file was being created
      return;
    }
    let sinceTouch = 0;
    for (let i = 0; i < UPLOAD_WINDOW; i++) call.send(binary({ kind: "pull", chunk_size: UPLOAD_CHUNK_BYTES }));
    for (;;) {
      const c = await call.next();
      if (c === null) break;
      if (c.type !== "binary" || c.headers.kind !== "data") {
        throw new ToolError(`storage.upload: expected binary chunks with headers.kind "data", got ${c.type}`, 400);
      }
      await up.write(c.data);
      sinceTouch += c.data.length;
      if (sinceTouch >= UPLOAD_PROGRESS_BYTES) {
        sinceTouch = 0;
        hold.touch();
      }
      if (declared !== null && up.bytes > declared) {
        throw new ToolError(`storage.upload: received more than the declared ${declared} bytes`, 400);
      }
      call.send(binary({ kind: "pull", chunk_size: UPLOAD_CHUNK_BYTES }));
    }
    if (call.closed) {
      await up.abort(); // the caller went away or the upload expired: discard the temp file
      return;
    }
    if (declared !== null && up.bytes !== declared) {
      throw new ToolError(`storage.upload: received ${up.bytes} bytes but the upload declared ${declared}`, 400);
    }
    hold.touch(); // the commit (fsync + rename) gets a whole idle bound of its own
    await up.commit();
    fileEvent(ctx, "storage.file.updated", { path });
  } catch (err) {
    await up?.abort();
    throw err;
  } finally {
    hold.release();
  }
}

async function download(ctx: ToolContext, call: StreamCall): Promise<void> {
  const start = startChunk(await call.next(), "storage.download");
  const path = normalizeStoragePath(start.path, { allowRoot: false });
  canRead(ctx, path);
  // The SDK asks for 64 KiB chunks but accepts any size; chunks of at least 1 MiB cut the
  // per-chunk cost (allocation, framing, GC) that dominated downloads.
  const asked = typeof start.chunk_size === "number" && start.chunk_size > 0 ? start.chunk_size : 0;
  const chunkSize = Math.min(Math.max(asked, MIN_DOWNLOAD_CHUNK_BYTES), 4 * 1024 * 1024);
  const { fh, size } = await ctx.room.storage.openRead(path);
  const name = path.split("/").pop()!;
  try {
    call.send(binary({ kind: "start", name, mime_type: mimeTypeFor(name), size }));
    let offset = 0;
    let credit = DOWNLOAD_WINDOW;
    while (offset < size && !call.closed) {
      if (credit === 0) {
        const c = await call.next();
        if (c === null) return;
        if (c.type === "binary" && c.headers.kind === "pull") credit++;
        continue;
      }
      const len = Math.min(chunkSize, size - offset);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, offset);
      if (bytesRead === 0) throw new ToolError(`storage.download: ${JSON.stringify(path)} shrank while it was being read`, 409);
      offset += bytesRead;
      credit--;
      call.send(binary({ kind: "data" }, bytesRead === len ? buf : buf.subarray(0, bytesRead)));
    }
  } finally {
    await fh.close();
  }
}

export const storageToolkit: BuiltinToolkit = {
  name: "storage",
  title: "Storage",
  description: "The room's files: list, stat, upload, download, move, delete",
  grant: "storage",
  tools: {
    list: { kind: "unary", run: list },
    stat: { kind: "unary", run: stat },
    exists: { kind: "unary", run: existsTool },
    delete: { kind: "unary", run: del },
    move: { kind: "unary", run: move },
    download_url: { kind: "unary", run: downloadUrl },
    upload: { kind: "stream", run: upload },
    download: { kind: "stream", run: download },
  },
};

export { PermissionDenied };
