import * as Y from "yjs";
import { attributeViolation, type CompiledSchema, type ElementRule } from "./schema.ts";

/**
 * Checks a Yjs v1 update against a document's schema *before* it is applied, so a refused
 * update never enters the shared state (Yjs cannot roll an applied update back).
 *
 * How: the update is decoded into its items (`Y.decodeUpdate`). Each new item's parent is
 * found either in the update itself or in the document (`Y.getItem`); an item that carries
 * no parent on the wire (it has a left/right neighbour instead, as Yjs encodes it) inherits
 * its neighbour's parent. Then:
 * - a new XML element must be a tag the parent's child property allows;
 * - an attribute (map entry) must be declared for the element, with a value of its type;
 * - text (XmlText) may only live inside an element named "text";
 * - nothing else (Y.Map, Y.Array, binary, sub-documents) may appear under the root `xml`.
 * Deletions are always allowed.
 *
 * Returns null when the update is acceptable, else a message naming element and attribute.
 */
export function schemaViolation(doc: Y.Doc, schema: CompiledSchema, update: Uint8Array): string | null {
  let decoded: { structs: Array<Y.Item | Y.GC | Y.Skip>; ds: unknown };
  try {
    decoded = Y.decodeUpdate(update) as typeof decoded;
  } catch (err) {
    return `not a Yjs v1 update: ${(err as Error).message}`;
  }
  const byClient = new Map<number, Y.Item[]>();
  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item)) continue;
    let list = byClient.get(s.id.client);
    if (list === undefined) byClient.set(s.id.client, (list = []));
    list.push(s);
  }
  const ctx: Ctx = { doc, schema, byClient, parents: new Map() };
  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item)) continue;
    const v = checkItem(ctx, s);
    if (v !== null) return v;
  }
  return null;
}

/** Where an item lives: in the root, in an element (by tag), or in a text node. */
type Parent = { kind: "gone" } | { kind: "root" } | { kind: "element"; tag: string } | { kind: "text"; elementTag: string | null } | { kind: "other"; what: string };
type Placement = { parent: Parent; sub: string | null };

interface Ctx {
  doc: Y.Doc;
  schema: CompiledSchema;
  byClient: Map<number, Y.Item[]>;
  parents: Map<string, Placement>;
}

class Unresolvable extends Error {}

function findInUpdate(ctx: Ctx, id: Y.ID): Y.Item | null {
  const list = ctx.byClient.get(id.client);
  if (list === undefined) return null;
  for (const it of list) if (id.clock >= it.id.clock && id.clock < it.id.clock + it.length) return it;
  return null;
}

/** The document's struct with that id: an Item, "gc" when garbage-collected, null when unknown. */
function findInDoc(ctx: Ctx, id: Y.ID): Y.Item | "gc" | null {
  if (Y.getState(ctx.doc.store, id.client) <= id.clock) return null;
  const s = Y.getItem(ctx.doc.store, id);
  return s instanceof Y.Item ? s : "gc";
}

const GONE: Placement = { parent: { kind: "gone" }, sub: null };

/** The parent described by a type (a live Yjs type, or a type decoded from the update). */
function describeType(ctx: Ctx, t: Y.AbstractType<unknown>, typeItem: Y.Item | null): Parent {
  if (t instanceof Y.XmlElement) return { kind: "element", tag: t.nodeName };
  if (t instanceof Y.XmlText) {
    const p = typeItem === null ? null : placementOf(ctx, typeItem).parent;
    return { kind: "text", elementTag: p !== null && p.kind === "element" ? p.tag : null };
  }
  return { kind: "other", what: t.constructor.name };
}

function parentFromRef(ctx: Ctx, ref: Y.ID | string | Y.AbstractType<unknown>): Parent {
  if (typeof ref === "string") return ref === "xml" ? { kind: "root" } : { kind: "other", what: `root type "${ref}"` };
  if (ref instanceof Y.AbstractType) {
    if (ref._item === null) return ref === ctx.doc.share.get("xml") ? { kind: "root" } : { kind: "other", what: "another root type" };
    return describeType(ctx, ref, ref._item);
  }
  const it = findInUpdate(ctx, ref) ?? findInDoc(ctx, ref);
  if (it === null) throw new Unresolvable();
  // A parent deleted (concurrently) takes the new item with it: Yjs integrates it as deleted.
  if (it === "gc" || it.content instanceof Y.ContentDeleted) return { kind: "gone" };
  if (!(it.content instanceof Y.ContentType)) return { kind: "other", what: "a non-type item" };
  return describeType(ctx, it.content.type, it);
}

/** Parent and map key of an item, following left/right neighbours when the wire omits them. */
function placementOf(ctx: Ctx, item: Y.Item): Placement {
  const key = `${item.id.client}:${item.id.clock}`;
  const cached = ctx.parents.get(key);
  if (cached !== undefined) return cached;
  // Walk the neighbour chain iteratively (typing produces long chains of single characters).
  const chain: Y.Item[] = [];
  let cur: Y.Item = item;
  let found: Placement | null = null;
  for (;;) {
    const k = `${cur.id.client}:${cur.id.clock}`;
    const c = ctx.parents.get(k);
    if (c !== undefined) {
      found = c;
      break;
    }
    chain.push(cur);
    const p = cur.parent as Y.ID | string | Y.AbstractType<unknown> | null;
    if (p !== null) {
      found = { parent: parentFromRef(ctx, p), sub: cur.parentSub };
      break;
    }
    const n = cur.origin ?? cur.rightOrigin;
    if (n === null) throw new Unresolvable();
    const next = findInUpdate(ctx, n) ?? findInDoc(ctx, n);
    if (next === null) throw new Unresolvable();
    if (next === "gc") {
      // Yjs drops an item whose neighbour was garbage-collected (its parent was deleted).
      found = GONE;
      break;
    }
    cur = next;
  }
  for (const c of chain) ctx.parents.set(`${c.id.client}:${c.id.clock}`, found);
  return found;
}

function ruleFor(ctx: Ctx, p: Parent): ElementRule | undefined {
  if (p.kind === "root") return ctx.schema.elements.get(ctx.schema.rootTag);
  if (p.kind === "element") return ctx.schema.elements.get(p.tag);
  return undefined;
}

function where(ctx: Ctx, p: Parent): string {
  if (p.kind === "root") return `root element "${ctx.schema.rootTag}"`;
  if (p.kind === "element") return `element "${p.tag}"`;
  if (p.kind === "text") return `the text of element "${p.elementTag ?? "?"}"`;
  return p.kind === "other" ? p.what : "a deleted element";
}

function checkItem(ctx: Ctx, item: Y.Item): string | null {
  const content = item.content;
  if (content instanceof Y.ContentDeleted) return null;
  let placement: Placement;
  try {
    placement = placementOf(ctx, item);
  } catch (err) {
    if (err instanceof Unresolvable) return "the update builds on changes this document does not have (reopen the document and resend)";
    throw err;
  }
  const { parent, sub } = placement;
  if (parent.kind === "gone") return null;
  if (parent.kind === "other") return `only the root "xml" element tree may be edited (got an edit inside ${parent.what})`;
  if (parent.kind === "text") {
    // Formatting attributes and characters of a text node; the node itself was checked when created.
    return null;
  }
  const rule = ruleFor(ctx, parent);
  if (rule === undefined) return `${where(ctx, parent)} is not defined in the schema`;
  if (sub !== null) {
    if (!(content instanceof Y.ContentAny)) return `attribute "${sub}" of ${where(ctx, parent)} must be a plain JSON value`;
    const value = content.arr[content.arr.length - 1];
    return attributeViolation(rule, sub, value);
  }
  if (content instanceof Y.ContentType) {
    const t = content.type;
    if (t instanceof Y.XmlElement) {
      if (rule.childProperty === null) return `${where(ctx, parent)} does not allow child elements (got "${t.nodeName}")`;
      if (!rule.childTags.has(t.nodeName)) {
        return `${where(ctx, parent)} does not allow child element "${t.nodeName}" in "${rule.childProperty}" (allowed: ${[...rule.childTags].join(", ")})`;
      }
      return null;
    }
    if (t instanceof Y.XmlText) {
      if (rule.tag === "text") return null;
      return `${where(ctx, parent)} cannot hold text; text lives in a "text" element`;
    }
    return `${where(ctx, parent)} cannot hold a ${t.constructor.name}`;
  }
  return `${where(ctx, parent)} cannot hold ${content.constructor.name} content; only elements and attributes`;
}
