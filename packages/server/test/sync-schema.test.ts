import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { startTestServer, eventually } from "./helpers.ts";
import { rawOpen } from "./sync-helpers.ts";
import { buildSchemaJson } from "../src/toolkits/sync/schema.ts";

/** A raw Yjs editor of a thread: applies the server state, makes a change, sends its update. */
async function refusal(client: any, path: string, edit: (root: Y.XmlElement) => void): Promise<string> {
  const s = await rawOpen(client, { path });
  const doc = new Y.Doc();
  Y.applyUpdate(doc, s.state);
  let update: Uint8Array | null = null;
  doc.on("update", (u: Uint8Array) => (update = u));
  doc.transact(() => edit(doc.get("xml", Y.XmlElement)));
  s.send(update!);
  for (;;) {
    const n = await s.iterator.next();
    if (n.done) return "stream ended without an error";
    if (n.value?.text !== undefined && n.value.constructor.name === "ErrorContent") return n.value.text;
  }
}

test("sync: updates that break the schema are refused, naming element and attribute", async () => {
  const ts = await startTestServer();
  try {
    const c = await ts.client("schema-room", "alice");
    await eventually(() => c.storage.exists(".schemas/thread.json"), 5000, "the seeded schema");
    const path = "t.thread";
    const messages = (root: Y.XmlElement) => root.get(1) as Y.XmlElement;

    const badChild = await refusal(c, path, (root) => messages(root).push([new Y.XmlElement("bogus")]));
    assert.match(badChild, /element "messages" does not allow child element "bogus" in "items" \(allowed: message\)/);

    const badAttr = await refusal(c, path, (root) => {
      const m = new Y.XmlElement("message");
      messages(root).push([m]);
      m.setAttribute("$id", "x");
      m.setAttribute("color", "red");
    });
    assert.match(badAttr, /element "message" has no attribute "color" in the schema/);

    const badType = await refusal(c, path, (root) => {
      const m = new Y.XmlElement("member");
      (root.get(0) as Y.XmlElement).push([m]);
      m.setAttribute("type", "robot");
    });
    assert.match(badType, /attribute "type" of element "member" must be one of \["user","agent"\], got "robot"/);

    // A valid edit from the same kind of raw editor goes through and reaches an SDK editor.
    const doc = await c.sync.open(path);
    const ok = await rawOpen(c, { path });
    const y = new Y.Doc();
    Y.applyUpdate(y, ok.state);
    let u: Uint8Array | null = null;
    y.on("update", (x: Uint8Array) => (u = x));
    y.transact(() => {
      const m = new Y.XmlElement("message");
      (y.get("xml", Y.XmlElement).get(1) as Y.XmlElement).push([m]);
      m.setAttribute("$id", "m1");
      m.setAttribute("text", "hello");
    });
    ok.send(u!);
    await eventually(() => doc.root.getChildren()[1].getChildren().some((e: any) => e.getAttribute("text") === "hello"), 5000, "the valid edit");
    ok.close();

    // Raw opens: SDK 0.39.9's SyncClient leaves a rejected promise unobserved when open fails.
    await assert.rejects(rawOpen(c, { path: "notes.unknown" }), /no schema for "notes.unknown": ".schemas\/unknown.json" does not exist in room storage/);
    await assert.rejects(rawOpen(c, { path: "missing.thread", create: false }), /document "missing.thread" does not exist/);
  } finally {
    await ts.close();
  }
});

test("sync: schema from the request, create from JSON, and limits with clear errors", async () => {
  const ts = await startTestServer({ syncLimits: { maxDocumentsPerRoom: 2, maxUpdateBytes: 2048 } });
  try {
    const c = await ts.client("limits-room", "alice");
    const schema = buildSchemaJson("note", {
      note: { description: "a note", attributes: { title: { type: "string", description: "title" } }, children: { name: "lines", tags: ["line"], description: "lines" } },
      line: { description: "a line", attributes: { text: { type: "string", description: "text" } } },
    });
    await c.invoke({ toolkit: "sync", tool: "create", input: { path: "a.note", json: { note: { title: "groceries", lines: [{ line: { text: "milk" } }] } }, schema, schema_path: null } });
    const s = await rawOpen(c, { path: "a.note", schema });
    assert.deepEqual(s.headers.schema, schema, "the state header carries the schema");
    const y = new Y.Doc();
    Y.applyUpdate(y, s.state);
    const root = y.get("xml", Y.XmlElement);
    assert.equal(root.getAttribute("title"), "groceries");
    assert.equal((root.get(0) as Y.XmlElement).getAttribute("text"), "milk");

    let u: Uint8Array | null = null;
    y.on("update", (x: Uint8Array) => (u = x));
    root.setAttribute("title", "x".repeat(4000));
    s.send(u!);
    let text = "";
    for (;;) {
      const n = await s.iterator.next();
      if (n.done) break;
      if (n.value.constructor.name === "ErrorContent") text = n.value.text;
    }
    assert.match(text, /update of \d+ bytes to "a.note" is over the 2048-byte update limit/);

    const open1 = await rawOpen(c, { path: "b.note", schema });
    const open2 = await rawOpen(c, { path: "c.note", schema });
    await assert.rejects(rawOpen(c, { path: "d.note", schema }), /this room already has 2 documents open \(limit 2\)/);
    open1.close();
    open2.close();
    await assert.rejects(c.invoke({ toolkit: "sync", tool: "create", input: { path: "a.note", json: null, schema, schema_path: null } }), /"a.note" already exists/);
  } finally {
    await ts.close();
  }
});
