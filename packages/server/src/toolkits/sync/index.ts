import type { Logger } from "pino";
import { binary, empty, type Content } from "@roomservice/protocol";
import type { Clock } from "../../config.ts";
import type { Connection, StreamCall } from "../../rooms/connection.ts";
import type { Room } from "../../rooms/room.ts";
import type { RoomManager } from "../../rooms/room-manager.ts";
import { normalizeStoragePath } from "../../storage/paths.ts";
import { ToolError, describe, jsonInput, type BuiltinToolkit, type ToolContext } from "../types.ts";
import type { Editor, LiveDocument } from "./document.ts";
import { roomDocumentFiles, type DocumentFiles } from "./files.ts";
import { DEFAULT_SYNC_LIMITS, type SyncLimits } from "./limits.ts";
import { RoomDocuments, type OpenRequest } from "./registry.ts";
import { threadSchemaJson } from "./schema.ts";
import { checkSyncPath } from "./grant.ts";

export { DEFAULT_SYNC_LIMITS, type SyncLimits } from "./limits.ts";

/** Path of the thread schema MeshAgent's chat clients look for before opening a thread. */
export const THREAD_SCHEMA_PATH = ".schemas/thread.json";

export interface SyncService {
  toolkit: BuiltinToolkit;
  /** Writes every open document of every room (server shutdown). */
  flushAll(): Promise<void>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The `sync` toolkit: live Yjs documents kept in room storage (wire shapes from the SDK's
 * `dist/node/sync-client.js`; same in 0.35.8 and 0.39.9):
 * - `open` (streamed): client chunk 1 is binary `{kind:"start", path, create, vector, schema,
 *   schema_path, initial_json}`; later chunks `{kind:"sync"}` whose data is the UTF-8 base64
 *   text of a Yjs v1 update. The server answers `{kind:"state", path, schema}` with the state
 *   (a diff against `vector`, a base64 state vector, when given), then `{kind:"sync", path}`
 *   chunks with the other editors' updates. Ending the input closes the document.
 * - `create {path, json, schema, schema_path}`: makes a document from JSON.
 * Every new session's room storage gets `.schemas/thread.json` when it has none.
 */
export function createSyncService(a: { rooms: RoomManager; clock: Clock; logger: Logger; limits?: Partial<SyncLimits>; files?: (room: Room) => DocumentFiles }): SyncService {
  const limits: SyncLimits = { ...DEFAULT_SYNC_LIMITS, ...a.limits };
  // The SDK's storage event for a saved document (participant_id null: the server wrote it),
  // to whoever is in the room by then (looked up at write time: a save can outlive a Room).
  const filesFor = a.files ?? ((room: Room) => roomDocumentFiles(room.storage, (path) =>
    a.rooms.get(room.name)?.broadcastEvent("storage.file.updated", { path, participant_id: null })));
  const byRoom = new Map<string, RoomDocuments>();
  const streamsPerConn = new WeakMap<Connection, number>();
  const schemaFile = (json: Record<string, unknown>) => Buffer.from(JSON.stringify(json, null, 2) + "\n");
  const threadSchema = schemaFile(threadSchemaJson());
  // What earlier versions seeded (no `exec`): replaced when found unchanged, so rooms made
  // before keep working with MeshAgent's shell-tool ChatBots. A file anyone edited is kept.
  const previousThreadSchema = schemaFile(threadSchemaJson({ exec: false }));
  const seed = async (files: DocumentFiles): Promise<void> => {
    if (await files.writeIfAbsent(THREAD_SCHEMA_PATH, threadSchema)) return;
    const current = await files.read(THREAD_SCHEMA_PATH, 1024 * 1024).catch(() => null);
    if (current !== null && previousThreadSchema.equals(current)) await files.write(THREAD_SCHEMA_PATH, threadSchema);
  };

  // Seeds in flight: flushAll() waits for them, so a server that closes right after a session
  // started never has a write land in a room directory being removed or moved.
  const seeding = new Set<Promise<void>>();
  a.rooms.events.on("event", (e) => {
    if (e.type !== "session.started") return;
    const room = a.rooms.get(e.room);
    if (room === undefined) return;
    const p: Promise<void> = seed(filesFor(room))
      .then(() => undefined, (err: unknown) => room.log.error({ err }, "sync: seeding .schemas/thread.json failed"))
      .finally(() => seeding.delete(p));
    seeding.add(p);
  });

  const docsFor = (room: Room): RoomDocuments => {
    let d = byRoom.get(room.name);
    if (d === undefined) {
      d = new RoomDocuments({ files: filesFor(room), limits, clock: a.clock, log: room.log.child({ toolkit: "sync" }) });
      byRoom.set(room.name, d);
    }
    return d;
  };
  const release = async (room: Room, doc: LiveDocument): Promise<void> => {
    const d = byRoom.get(room.name);
    if (d === undefined) return;
    await d.release(doc);
    if (d.size === 0 && byRoom.get(room.name) === d) byRoom.delete(room.name);
  };

  async function open(ctx: ToolContext, call: StreamCall): Promise<void> {
    const n = streamsPerConn.get(ctx.conn) ?? 0;
    if (n >= limits.maxOpenStreamsPerConnection) {
      throw new ToolError(`sync.open: this connection already has ${n} documents open (limit ${limits.maxOpenStreamsPerConnection})`, 429);
    }
    streamsPerConn.set(ctx.conn, n + 1);
    try {
      await serve(ctx, call);
    } finally {
      streamsPerConn.set(ctx.conn, (streamsPerConn.get(ctx.conn) ?? 1) - 1);
    }
  }

  async function serve(ctx: ToolContext, call: StreamCall): Promise<void> {
    const first = await call.next();
    if (first === null) return;
    if (first.type !== "binary" || first.headers.kind !== "start") {
      throw new ToolError(`sync.open: the first chunk must be binary content with headers {kind: "start", path, ...}, got ${first.type} content${first.type === "binary" ? ` of kind ${describe(first.headers.kind)}` : ""}`, 400);
    }
    const req = openRequest(first.headers, "sync.open");
    const access = checkSyncPath(ctx.conn.principal.api, req.path);
    if (req.create && !access.write && !(await filesFor(ctx.room).exists(req.path))) {
      throw new ToolError(`sync.open: ${JSON.stringify(req.path)} does not exist and the token may not create it (read-only sync grant)`, 403);
    }
    const vector = decodeVector(first.headers.vector);
    const docs = docsFor(ctx.room);
    const doc = await docs.acquire(req);
    const path = req.path;
    const editor: Editor = { deliver: (data) => call.send(binary({ kind: "sync", path }, data)) };
    // No await between sending the state and joining the editors: no update falls in between.
    call.send(binary({ kind: "state", path, schema: doc.schema.json }, Buffer.from(Buffer.from(doc.stateFor(vector)).toString("base64"))));
    doc.editors.add(editor);
    try {
      for (;;) {
        const c = await call.next();
        if (c === null) return;
        if (c.type !== "binary" || c.headers.kind !== "sync") {
          throw new ToolError(`sync.open: expected a binary chunk with headers {kind: "sync"}, got ${c.type} content`, 400);
        }
        if (!access.write) throw new ToolError(`sync.open: the token's sync grant is read-only for ${JSON.stringify(path)}`, 403);
        const text = c.data.toString("utf8");
        if (!BASE64.test(text)) throw new ToolError("sync.open: a sync chunk's data must be the base64 text of a Yjs update", 400);
        doc.applyFrom(editor, Buffer.from(text, "base64"), c.data);
      }
    } finally {
      doc.editors.delete(editor);
      await release(ctx.room, doc);
    }
  }

  async function create(ctx: ToolContext, input: Content): Promise<Content> {
    const args = jsonInput(input, "sync.create");
    const req = openRequest({ ...args, create: true, initial_json: args.json ?? null }, "sync.create");
    if (!checkSyncPath(ctx.conn.principal.api, req.path).write) throw new ToolError(`sync.create: the token's sync grant is read-only for ${JSON.stringify(req.path)}`, 403);
    if (await filesFor(ctx.room).exists(req.path)) throw new ToolError(`sync.create: ${JSON.stringify(req.path)} already exists`, 409);
    const docs = docsFor(ctx.room);
    const doc = await docs.acquire(req);
    await release(ctx.room, doc);
    return empty();
  }

  return {
    toolkit: {
      name: "sync",
      title: "sync",
      description: "live documents (Yjs) kept in room storage",
      grant: "sync",
      tools: { open: { kind: "stream", run: open }, create: { kind: "unary", run: create } },
    },
    async flushAll() {
      await Promise.all([...seeding, ...[...byRoom.values()].map((d) => d.flushAll())]);
    },
  };
}

function openRequest(h: Record<string, unknown>, tool: string): OpenRequest {
  const path = normalizeStoragePath(typeof h.path === "string" ? h.path.replace(/^(\.\/)+/, "").replace(/^\/+/, "") : h.path, { allowRoot: false });
  const schema = h.schema ?? null;
  if (schema !== null && (typeof schema !== "object" || Array.isArray(schema))) throw new ToolError(`${tool}: "schema" must be a MeshSchema JSON object or null, got ${describe(schema)}`, 400);
  const schemaPath = h.schema_path ?? null;
  if (schemaPath !== null && typeof schemaPath !== "string") throw new ToolError(`${tool}: "schema_path" must be a string or null, got ${describe(schemaPath)}`, 400);
  const create = h.create ?? true;
  if (typeof create !== "boolean") throw new ToolError(`${tool}: "create" must be a boolean, got ${describe(create)}`, 400);
  return {
    path,
    create,
    schema: schema as Record<string, unknown> | null,
    schemaPath: schemaPath === null ? null : normalizeStoragePath(schemaPath, { allowRoot: false, field: "schema_path" }),
    initialJson: h.initial_json ?? null,
  };
}

function decodeVector(v: unknown): Uint8Array | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v !== "string" || !BASE64.test(v)) throw new ToolError(`sync.open: "vector" must be the base64 text of a Yjs state vector, got ${describe(v)}`, 400);
  return Buffer.from(v, "base64");
}
