import type { Logger } from "pino";
import * as Y from "yjs";
import type { Clock } from "../../config.ts";
import { ToolError } from "../types.ts";
import { LiveDocument, seedDocument } from "./document.ts";
import type { DocumentFiles } from "./files.ts";
import type { SyncLimits } from "./limits.ts";
import { compileSchema, type CompiledSchema } from "./schema.ts";

/** What an opener asks for (the `start` chunk of `sync.open`, or `sync.create`). */
export interface OpenRequest {
  path: string;
  create: boolean;
  schema: Record<string, unknown> | null;
  schemaPath: string | null;
  initialJson: unknown;
}

/** A document slot: loading and closing are single-flight (as Hocuspocus does it). */
type Slot =
  | { kind: "loading"; ready: Promise<LiveDocument> }
  | { kind: "open"; doc: LiveDocument }
  | { kind: "closing"; done: Promise<void> };

/**
 * The documents of one room. A document is loaded by its first opener and unloaded (after a
 * final write) when its last editor leaves; opens that race a load or an unload wait for it.
 */
export class RoomDocuments {
  private readonly slots = new Map<string, Slot>();
  private readonly files: DocumentFiles;
  private readonly limits: SyncLimits;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(a: { files: DocumentFiles; limits: SyncLimits; clock: Clock; log: Logger }) {
    this.files = a.files;
    this.limits = a.limits;
    this.clock = a.clock;
    this.log = a.log;
  }

  get size(): number {
    return this.slots.size;
  }

  /** The live document at `req.path`, loading or creating it as needed. */
  async acquire(req: OpenRequest): Promise<LiveDocument> {
    for (;;) {
      const s = this.slots.get(req.path);
      if (s === undefined) break;
      if (s.kind === "open") return s.doc;
      if (s.kind === "loading") return await s.ready;
      await s.done;
    }
    if (this.slots.size >= this.limits.maxDocumentsPerRoom) {
      throw new ToolError(`sync: this room already has ${this.slots.size} documents open (limit ${this.limits.maxDocumentsPerRoom}); close one first`, 429);
    }
    const ready = this.load(req);
    this.slots.set(req.path, { kind: "loading", ready });
    try {
      const doc = await ready;
      this.slots.set(req.path, { kind: "open", doc });
      return doc;
    } catch (err) {
      this.slots.delete(req.path);
      throw err;
    }
  }

  /** Drops the document from memory once nobody edits it, after writing it. */
  release(doc: LiveDocument): Promise<void> {
    const s = this.slots.get(doc.path);
    if (doc.editors.size > 0 || s?.kind !== "open" || s.doc !== doc) return Promise.resolve();
    const done = doc.flush().finally(() => {
      if (this.slots.get(doc.path)?.kind === "closing") this.slots.delete(doc.path);
      doc.doc.destroy();
    });
    this.slots.set(doc.path, { kind: "closing", done });
    return done;
  }

  /** Writes every open document now (session end, server shutdown). */
  async flushAll(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const s of this.slots.values()) {
      if (s.kind === "open") waits.push(s.doc.flush());
      else if (s.kind === "closing") waits.push(s.done);
      else waits.push(s.ready.then((d) => d.flush(), () => undefined));
    }
    await Promise.all(waits);
  }

  private async load(req: OpenRequest): Promise<LiveDocument> {
    const bytes = await this.files.read(req.path, this.limits.maxDocumentBytes);
    if (bytes === null && !req.create) {
      throw new ToolError(`sync: document ${JSON.stringify(req.path)} does not exist (open it with create: true to make it)`, 404);
    }
    const schema = await this.resolveSchema(req);
    const doc = new Y.Doc({ gc: true });
    if (bytes !== null) {
      try {
        Y.applyUpdate(doc, bytes);
      } catch (err) {
        throw new ToolError(`sync: ${JSON.stringify(req.path)} is not a Yjs document (${(err as Error).message})`, 422);
      }
    } else seedDocument(doc, schema, req.initialJson);
    const live = new LiveDocument({ path: req.path, doc, schema, files: this.files, limits: this.limits, clock: this.clock, log: this.log, bytes: bytes?.length ?? 0 });
    if (bytes === null) await live.flushNow();
    return live;
  }

  /** `schema` from the opener, else `schema_path`, else `.schemas/<extension>.json`. */
  private async resolveSchema(req: OpenRequest): Promise<CompiledSchema> {
    if (req.schema !== null) return compileSchema(req.schema, "given in the request");
    let path = req.schemaPath;
    if (path === null) {
      const base = req.path.slice(req.path.lastIndexOf("/") + 1);
      const dot = base.lastIndexOf(".");
      if (dot <= 0) {
        throw new ToolError(`sync: ${JSON.stringify(req.path)} has no extension to find its schema by; pass schema or schema_path`, 400);
      }
      path = `.schemas/${base.slice(dot + 1).toLowerCase()}.json`;
    }
    const raw = await this.files.read(path, this.limits.maxDocumentBytes);
    if (raw === null) throw new ToolError(`sync: no schema for ${JSON.stringify(req.path)}: ${JSON.stringify(path)} does not exist in room storage`, 404);
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(raw).toString("utf8"));
    } catch (err) {
      throw new ToolError(`sync: schema ${JSON.stringify(path)} is not valid JSON (${(err as Error).message})`, 422);
    }
    return compileSchema(json, JSON.stringify(path));
  }
}
