import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { startTestServer, eventually } from "./helpers.ts";
import { rawOpen } from "./sync-helpers.ts";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildSchemaJson, threadSchemaJson } from "../src/toolkits/sync/schema.ts";

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
    assert.match(badChild, /element "messages" does not allow child element "bogus" in "items" \(allowed: message, exec\)/);

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

test("sync: the seeded thread schema takes MeshAgent's exec {command, result, pwd} under messages; an unchanged older seed is upgraded, an edited one kept", async () => {
  const ts = await startTestServer();
  try {
    // Rooms seeded by an earlier version (no exec): one untouched, one its owner edited.
    const old = JSON.stringify(threadSchemaJson({ exec: false }), null, 2) + "\n";
    const edited = old.replace("the messages of this thread", "our own messages");
    for (const [room, text] of [["old-room", old], ["edited-room", edited]] as const) {
      const dir = join(ts.server.rooms.roomDir(room), "storage", ".schemas");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "thread.json"), text);
    }
    const c = await ts.client("old-room", "alice");
    await eventually(() => readFileSync(join(ts.server.rooms.roomDir("old-room"), "storage", ".schemas", "thread.json"), "utf8").includes('"exec"'), 5000, "the upgraded schema");
    const e = await ts.client("edited-room", "bob");
    await eventually(async () => (await e.storage.exists(".schemas/thread.json")) === true, 5000, "schema");
    assert.equal(readFileSync(join(ts.server.rooms.roomDir("edited-room"), "storage", ".schemas", "thread.json"), "utf8"), edited, "an edited schema is never replaced");

    // A shell-tool ChatBot's exec element through the SDK's document API reaches another editor;
    // an attribute MeshAgent's schema does not have is refused.
    const path = ".threads/shell.thread";
    const doc = await c.sync.open(path);
    const messages = doc.root.getChildren()[1];
    messages.createChildElement("exec", { command: "ls -la", result: "total 0", pwd: "/data" });
    const reader = await ts.client("old-room", "carol");
    const again = await reader.sync.open(path);
    await eventually(() => again.root.getChildren()[1].getChildren().some((x: any) => x.tagName === "exec" && x.getAttribute("command") === "ls -la" && x.getAttribute("pwd") === "/data"), 5000, "the exec element stored and served to another editor");
    const bad = await refusal(c, path, (root) => {
      const x = new Y.XmlElement("exec");
      (root.get(1) as Y.XmlElement).push([x]);
      x.setAttribute("$id", "e2");
      x.setAttribute("exit_code", "0");
    });
    assert.match(bad, /element "exec" has no attribute "exit_code" in the schema \(allowed: \$id, command, result, pwd\)/);
  } finally {
    await ts.close();
  }
});
