/** Helpers for sync tests: a document's element tree as JSON, random edits through the SDK. */
import * as Y from "yjs";
import { sdk } from "./helpers.ts";

/** The SDK element tree of a MeshDocument as plain JSON (tag, attributes, children). */
export function treeJson(el: any): unknown {
  if (el.tagName === undefined) return { text: el.delta };
  return { tag: el.tagName, attrs: sortKeys(el.attributes), children: el.getChildren().map(treeJson) };
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/** The same JSON computed from a raw Yjs document (root `xml`). */
export function yTreeJson(doc: Y.Doc, rootTag: string): unknown {
  const walk = (n: Y.XmlElement | Y.XmlText, tag?: string): unknown => {
    if (n instanceof Y.XmlText) return { text: n.toDelta() };
    return { tag: tag ?? n.nodeName, attrs: sortKeys(n.getAttributes() as Record<string, unknown>), children: n.toArray().map((c) => walk(c as Y.XmlElement)) };
  };
  return walk(doc.get("xml", Y.XmlElement), rootTag);
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing run can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random edit of a thread document: add a message, edit one's text, or delete one. */
export function randomThreadEdit(doc: any, rand: () => number, who: string, i: number): void {
  const messages = doc.root.getChildren().find((c: any) => c.tagName === "messages");
  const list = messages.getChildren();
  const r = rand();
  if (list.length < 3 || r < 0.5) {
    messages.createChildElement("message", { id: `${who}-${i}`, text: `${who} ${i}`, created_at: new Date(0).toISOString(), author_name: who, author_ref: null });
  } else if (r < 0.85) {
    list[Math.floor(rand() * list.length)].setAttribute("text", `${who} edit ${i}`);
  } else {
    list[Math.floor(rand() * list.length)].delete();
  }
}

/** Raw `sync.open` through the SDK's invokeStream, for shapes the SyncClient hides (vector). */
export async function rawOpen(client: any, headers: Record<string, unknown>): Promise<{ state: Buffer; headers: any; close(): void; send(update: Uint8Array): void; iterator: AsyncIterator<any> }> {
  const pending: (Uint8Array | null)[] = [];
  let wake: (() => void) | null = null;
  const push = (x: Uint8Array | null) => {
    pending.push(x);
    wake?.();
  };
  async function* input() {
    yield new sdk.BinaryContent({ data: new Uint8Array(), headers: { kind: "start", create: true, vector: null, schema: null, schema_path: null, initial_json: null, ...headers } });
    for (;;) {
      while (pending.length === 0) await new Promise<void>((r) => (wake = r));
      const next = pending.shift()!;
      if (next === null) return;
      yield new sdk.BinaryContent({ data: new TextEncoder().encode(Buffer.from(next).toString("base64")), headers: { kind: "sync" } });
    }
  }
  const stream = await client.invokeStream({ toolkit: "sync", tool: "open", input: input() });
  const iterator = stream[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.value instanceof sdk.ErrorContent) throw new Error(first.value.text);
  return {
    state: Buffer.from(Buffer.from(first.value.data).toString("utf8"), "base64"),
    headers: first.value.headers,
    close: () => push(null),
    send: (u) => push(u),
    iterator,
  };
}
