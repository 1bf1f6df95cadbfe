import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import * as Y from "yjs";
import type { Clock } from "../../config.ts";
import { ToolError } from "../types.ts";
import type { DocumentFiles } from "./files.ts";
import type { SyncLimits } from "./limits.ts";
import { attributeViolation, type CompiledSchema } from "./schema.ts";
import { schemaViolation } from "./validate.ts";

/** One open `sync.open` stream: receives other editors' updates. */
export interface Editor {
  /** Sends one update (UTF-8 bytes of its base64 text) to this editor as a `sync` chunk. */
  deliver(base64Utf8: Buffer): void;
}

/** Where a document's storage write stands; a write never overlaps another. */
type PersistState =
  | { kind: "clean" }
  | { kind: "dirty"; timer: { cancel(): void } | null }
  | { kind: "writing"; done: Promise<void>; dirtyAgain: boolean };

/**
 * One document held in memory while someone has it open: the Yjs document (the `yjs`
 * library; Roomservice does not implement a CRDT of its own), its schema, its editors, and
 * its persistence. Every accepted update is relayed to the other editors as it arrived (not
 * merged: the 0.39.9 SDK applies merged updates wrongly to its element tree).
 *
 * Persistence: the raw Yjs v1 state (`Y.encodeStateAsUpdate`) is the file at the document's
 * path, as MeshAgent keeps it. Written atomically (temp + fsync + rename), at most once per
 * `persistDebounceMs`, and always when the last editor leaves — so a crash loses at most
 * the debounce window and never leaves a torn file.
 */
export class LiveDocument {
  readonly path: string;
  readonly doc: Y.Doc;
  readonly schema: CompiledSchema;
  readonly editors = new Set<Editor>();
  private persist: PersistState = { kind: "clean" };
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  /** Upper bound of the encoded state size: exact after each write, plus update sizes since. */
  private approxBytes: number;
  private readonly files: DocumentFiles;
  private readonly limits: SyncLimits;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(a: { path: string; doc: Y.Doc; schema: CompiledSchema; files: DocumentFiles; limits: SyncLimits; clock: Clock; log: Logger; bytes: number }) {
    this.path = a.path;
    this.doc = a.doc;
    this.schema = a.schema;
    this.files = a.files;
    this.limits = a.limits;
    this.clock = a.clock;
    this.log = a.log;
    this.approxBytes = a.bytes;
  }

  /** The state a newly connected editor needs: all of it, or what `vector` lacks. */
  stateFor(vector: Uint8Array | null): Uint8Array {
    return vector === null ? Y.encodeStateAsUpdate(this.doc) : Y.encodeStateAsUpdate(this.doc, vector);
  }

  /**
   * Applies one editor's update after checking size and schema, then relays it (the same
   * bytes) to every other editor. Throws a ToolError naming what is wrong; nothing is applied then.
   */
  applyFrom(from: Editor, update: Uint8Array, base64Utf8: Buffer): void {
    if (update.length > this.limits.maxUpdateBytes) {
      throw new ToolError(`sync: update of ${update.length} bytes to ${JSON.stringify(this.path)} is over the ${this.limits.maxUpdateBytes}-byte update limit`, 413);
    }
    if (this.approxBytes + update.length > this.limits.maxDocumentBytes) {
      this.approxBytes = Y.encodeStateAsUpdate(this.doc).length;
      if (this.approxBytes + update.length > this.limits.maxDocumentBytes) {
        throw new ToolError(`sync: document ${JSON.stringify(this.path)} would grow over the ${this.limits.maxDocumentBytes}-byte document limit`, 413);
      }
    }
    const violation = schemaViolation(this.doc, this.schema, update);
    if (violation !== null) throw new ToolError(`sync: update to ${JSON.stringify(this.path)} refused: ${violation}`, 400);
    Y.applyUpdate(this.doc, update, from);
    this.approxBytes += update.length;
    for (const e of this.editors) if (e !== from) e.deliver(base64Utf8);
    this.markDirty();
  }

  markDirty(): void {
    switch (this.persist.kind) {
      case "clean": {
        const wait = Math.max(0, this.lastWriteAt + this.limits.persistDebounceMs - this.clock.now());
        const timer = this.clock.setTimeout(() => void this.flush(), wait);
        this.persist = { kind: "dirty", timer };
        return;
      }
      case "dirty":
        return;
      case "writing":
        this.persist.dirtyAgain = true;
    }
  }

  /** A new document: its file is written before anyone sees it, so it exists from now on. */
  async flushNow(): Promise<void> {
    this.markDirty();
    await this.flush();
  }

  /** Writes now if anything changed (waiting for a write in progress first). */
  async flush(): Promise<void> {
    const p = this.persist;
    if (p.kind === "clean") return;
    if (p.kind === "writing") {
      // Changes made during that write marked it dirtyAgain; flush() then writes them.
      await p.done;
      return this.flush();
    }
    p.timer?.cancel();
    const state = Y.encodeStateAsUpdate(this.doc);
    this.approxBytes = state.length;
    this.lastWriteAt = this.clock.now();
    const writing: PersistState = { kind: "writing", done: Promise.resolve(), dirtyAgain: false };
    writing.done = this.files.write(this.path, state).then(
      () => undefined,
      (err: unknown) => {
        // Keep the document dirty: the next debounce (or close) retries the write.
        this.log.error({ err, path: this.path }, "sync: writing the document to storage failed");
        writing.dirtyAgain = true;
      },
    );
    this.persist = writing;
    await writing.done;
    this.persist = { kind: "clean" };
    if (writing.dirtyAgain) this.markDirty();
  }
}

/** Makes a new document's initial content: from JSON, else one empty slot per ordered child. */
export function seedDocument(doc: Y.Doc, schema: CompiledSchema, json: unknown): void {
  const root = doc.get("xml", Y.XmlElement);
  const rootRule = schema.elements.get(schema.rootTag)!;
  doc.transact(() => {
    if (json === null || json === undefined) {
      for (const tag of rootRule.orderedChildren ?? []) root.push([newElement(tag, {})]);
      return;
    }
    if (typeof json !== "object" || Array.isArray(json)) throw new ToolError(`sync: initial JSON must be an object {"${schema.rootTag}": {...}}`, 400);
    const keys = Object.keys(json);
    if (keys.length !== 1 || keys[0] !== schema.rootTag) {
      throw new ToolError(`sync: initial JSON must have the single key "${schema.rootTag}" (the schema's root element), got ${JSON.stringify(keys)}`, 400);
    }
    fillElement(root, schema, schema.rootTag, (json as Record<string, unknown>)[schema.rootTag], schema.rootTag);
    if (root.length === 0) for (const tag of rootRule.orderedChildren ?? []) root.push([newElement(tag, {})]);
  });
}

function newElement(tag: string, attrs: Record<string, unknown>): Y.XmlElement {
  const el = new Y.XmlElement(tag);
  el.setAttribute("$id", randomUUID());
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v as string);
  return el;
}

/** JSON in the SDK's `appendJson` layout: `{attr: value, <childProperty>: [{tag: {...}}, ...]}`. */
function fillElement(el: Y.XmlElement, schema: CompiledSchema, tag: string, body: unknown, at: string): void {
  const rule = schema.elements.get(tag);
  if (rule === undefined) throw new ToolError(`sync: initial JSON at ${at}: element "${tag}" is not in the schema`, 400);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ToolError(`sync: initial JSON at ${at}: expected an object of attributes`, 400);
  for (const [k, v] of Object.entries(body)) {
    if (k === rule.childProperty) {
      if (!Array.isArray(v)) throw new ToolError(`sync: initial JSON at ${at}.${k}: expected an array of child elements`, 400);
      v.forEach((child, i) => {
        const cat = `${at}.${k}[${i}]`;
        const ck = typeof child === "object" && child !== null ? Object.keys(child) : [];
        if (ck.length !== 1) throw new ToolError(`sync: initial JSON at ${cat}: expected {"<tag>": {...}}`, 400);
        const ctag = ck[0]!;
        if (!rule.childTags.has(ctag)) throw new ToolError(`sync: initial JSON at ${cat}: element "${tag}" does not allow child "${ctag}"`, 400);
        const c = newElement(ctag, {});
        el.push([c]);
        fillElement(c, schema, ctag, (child as Record<string, unknown>)[ctag], cat);
      });
      continue;
    }
    const bad = attributeViolation(rule, k, v);
    if (bad !== null) throw new ToolError(`sync: initial JSON at ${at}: ${bad}`, 400);
    el.setAttribute(k, v as string);
  }
}
