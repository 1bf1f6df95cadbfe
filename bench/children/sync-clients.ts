/**
 * Benchmark child: N editors of one Yjs document, all in this process. Env: SC_KIND = rs
 * (the @meshagent/meshagent SDK's `sync.open` stream against Roomservice, exactly the
 * chunks its SyncClient sends) | raw (the same chunks over the wire protocol without the
 * SDK, pipelined instead of one request chunk per round trip) | ws (the same Yjs updates, raw bytes, through the plain `ws`
 * relay); SC_URL, SC_SECRET, SC_N.
 *
 * Each editor owns one element and sets its `t` attribute to performance.now() at send
 * time; every receiver applies the update to its own Y.Doc and reads `t` back from the
 * update, so latency = receive time − t on one shared clock, and both variants do the same
 * Yjs work per delivery.
 */
import { WebSocket } from "ws";
import * as Y from "yjs";
import { mintParticipantToken } from "@roomservice/server";
import { serve } from "../lib/rpc.ts";
import { summarize, roundSummary, type Summary } from "../lib/stats.ts";
import { sdk, sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { RawRoomClient } from "../lib/raw-client.ts";

const kind = process.env.SC_KIND as "rs" | "raw" | "ws";
const url = process.env.SC_URL!;
const secret = process.env.SC_SECRET ?? "";
const n = Number(process.env.SC_N ?? 10);
const ROOM = "bench-sync";
const PATH = "bench/doc.note";
const SCHEMA = {
  $root_tag_ref: "#/$defs/doc",
  $defs: {
    doc: { type: "object", required: ["doc"], properties: { doc: { type: "object", properties: { items: { type: "array", items: { anyOf: [{ $ref: "#/$defs/note" }] } } } } } },
    note: { type: "object", required: ["note"], properties: { note: { type: "object", properties: { t: { type: ["number", "null"] } } } } },
  },
};

// SDK 0.39.9 logs every change applied to an element tree; this child uses no element trees.
console.log = () => undefined;

interface Editor {
  doc: Y.Doc;
  el: Y.XmlElement | null;
  send(update: Uint8Array): void;
  close(): Promise<void>;
}

let onDelivery: (t: number) => void = () => undefined;
let deliveries = 0;

/** The timestamp an editor's update carries: the last plain value in it. */
function stampOf(update: Uint8Array): number {
  const { structs } = Y.decodeUpdate(update) as { structs: unknown[] };
  for (let i = structs.length - 1; i >= 0; i--) {
    const s = structs[i];
    if (s instanceof Y.Item && s.content instanceof Y.ContentAny) return s.content.arr[s.content.arr.length - 1] as number;
  }
  return NaN;
}

function receive(e: Editor, update: Uint8Array): void {
  Y.applyUpdate(e.doc, update, "remote");
  deliveries++;
  onDelivery(stampOf(update));
}

async function rsEditor(i: number): Promise<Editor> {
  const token = await mintParticipantToken(secret, { room: ROOM, identity: `e${i}`, role: "user", ttlSeconds: 3600 });
  const client = await sdkClient(url, ROOM, token);
  const queue: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  async function* input() {
    yield new sdk.BinaryContent({ data: new Uint8Array(), headers: { kind: "start", path: PATH, create: true, vector: null, schema: SCHEMA, schema_path: null, initial_json: null } });
    for (;;) {
      while (queue.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
      if (closed) return;
      const u = queue.shift()!;
      yield new sdk.BinaryContent({ data: new TextEncoder().encode(Buffer.from(u).toString("base64")), headers: { kind: "sync" } });
    }
  }
  const stream = await client.invokeStream({ toolkit: "sync", tool: "open", input: input() });
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Buffer.from(Buffer.from(first.value.data).toString("utf8"), "base64"));
  const e: Editor = {
    doc,
    el: null,
    send: (u) => {
      queue.push(u);
      wake?.();
    },
    close: async () => {
      closed = true;
      wake?.();
      await disposeSdkClient(client);
    },
  };
  void (async () => {
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      if (r.value?.headers?.kind === "sync") receive(e, Buffer.from(Buffer.from(r.value.data).toString("utf8"), "base64"));
    }
  })().catch(() => undefined);
  return e;
}

async function rawEditor(i: number): Promise<Editor> {
  const token = await mintParticipantToken(secret, { room: ROOM, identity: `e${i}`, role: "user", ttlSeconds: 3600 });
  const c = await RawRoomClient.connect(url, ROOM, token);
  const id = `raw-${i}-${crypto.randomUUID()}`;
  const doc = new Y.Doc();
  const e: Editor = {
    doc,
    el: null,
    send: (u) => void c.send("room.tool_call_request_chunk", { tool_call_id: id, chunk: { type: "binary", headers: { kind: "sync" } } }, Buffer.from(Buffer.from(u).toString("base64"))),
    close: async () => c.close(),
  };
  const ready = new Promise<void>((resolve) => {
    c.on((type, header, tail) => {
      if (type !== "room.tool_call_response_chunk" || header.tool_call_id !== id) return;
      const chunk = header.chunk as { headers?: { kind?: string } };
      const u = Buffer.from(tail.toString("utf8"), "base64");
      if (chunk.headers?.kind === "state") {
        Y.applyUpdate(doc, u, "remote");
        resolve();
      } else if (chunk.headers?.kind === "sync") receive(e, u);
    });
  });
  c.send("room.invoke_tool", { toolkit: "sync", tool: "open", tool_call_id: id, arguments: { type: "control", method: "open" } });
  c.send("room.tool_call_request_chunk", { tool_call_id: id, chunk: { type: "binary", headers: { kind: "start", path: PATH, create: true, vector: null, schema: SCHEMA, schema_path: null, initial_json: null } } }, Buffer.alloc(0));
  await ready;
  return e;
}

async function wsEditor(): Promise<Editor> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  const doc = new Y.Doc();
  const e: Editor = { doc, el: null, send: (u) => ws.send(u, { binary: true }), close: async () => ws.close() };
  ws.on("message", (data) => receive(e, new Uint8Array(data as Buffer)));
  return e;
}

let editors: Editor[] = [];

/** One editor's edit: its element's `t` becomes `now`; returns the Yjs update. */
function edit(e: Editor, now: number): Uint8Array {
  let update: Uint8Array | null = null;
  const h = (u: Uint8Array, origin: unknown) => {
    if (origin !== "remote") update = u;
  };
  e.doc.on("update", h);
  e.el!.setAttribute("t", now as unknown as string);
  e.doc.off("update", h);
  return update!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

serve({
  async connect() {
    const t0 = performance.now();
    editors = [];
    for (let i = 0; i < n; i++) editors.push(kind === "rs" ? await rsEditor(i) : kind === "raw" ? await rawEditor(i) : await wsEditor());
    // Each editor adds its own element; everyone must see all of them before measuring.
    for (const e of editors) {
      const root = e.doc.get("xml", Y.XmlElement);
      let update: Uint8Array | null = null;
      const h = (u: Uint8Array, origin: unknown) => {
        if (origin !== "remote") update = u;
      };
      e.doc.on("update", h);
      const el = new Y.XmlElement("note");
      el.setAttribute("$id", crypto.randomUUID());
      root.push([el]);
      e.doc.off("update", h);
      e.el = el;
      e.send(update!);
    }
    const deadline = performance.now() + 30_000;
    while (editors.some((e) => e.doc.get("xml", Y.XmlElement).length < n)) {
      if (performance.now() > deadline) throw new Error("editors did not all see each other's elements");
      await sleep(10);
    }
    return { ms: performance.now() - t0 };
  },
  /** Fixed aggregate rate, round-robin over editors; latency of every delivery after warm-up. */
  async rate(a: { rate: number; warmupMs: number; durationMs: number }) {
    const lat: number[] = [];
    let measuring = false;
    onDelivery = (t) => {
      if (measuring) lat.push(performance.now() - t);
    };
    const start = performance.now();
    const total = Math.round(((a.warmupMs + a.durationMs) / 1000) * a.rate);
    let sent = 0;
    for (let k = 0; k < total; k++) {
      const due = start + (k * 1000) / a.rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      if (!measuring && performance.now() - start >= a.warmupMs) measuring = true;
      const e = editors[k % n]!;
      e.send(edit(e, performance.now()));
      if (measuring) sent++;
    }
    await sleep(500);
    measuring = false;
    const s: Summary = roundSummary(summarize(lat));
    return { latencyMs: s, expected: sent * (n - 1), delivered: lat.length };
  },
  /** Every editor sends `perEditor` updates back to back; deliveries/s until all arrived. */
  async burst(a: { perEditor: number }) {
    onDelivery = () => undefined;
    const before = deliveries;
    const expected = a.perEditor * n * (n - 1);
    const t0 = performance.now();
    for (let k = 0; k < a.perEditor; k++) for (const e of editors) e.send(edit(e, performance.now()));
    const deadline = t0 + 120_000;
    while (deliveries - before < expected && performance.now() < deadline) await sleep(2);
    const ms = performance.now() - t0;
    return { deliveriesPerSec: ((deliveries - before) / ms) * 1000, delivered: deliveries - before, expected, ms };
  },
  async close() {
    for (const e of editors) await e.close();
  },
});
