import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { compileSchema, threadSchemaJson, SchemaError } from "../src/toolkits/sync/schema.ts";
import { schemaViolation } from "../src/toolkits/sync/validate.ts";

const schema = compileSchema(threadSchemaJson(), "thread");

/** Runs `edit` on `doc` and returns the update it produced. */
function updateOf(doc: Y.Doc, edit: (root: Y.XmlElement) => void): Uint8Array {
  let u: Uint8Array | null = null;
  const h = (x: Uint8Array) => (u = x);
  doc.on("update", h);
  doc.transact(() => edit(doc.get("xml", Y.XmlElement)));
  doc.off("update", h);
  return u!;
}

function seeded(): Y.Doc {
  const d = new Y.Doc();
  updateOf(d, (root) => root.push([new Y.XmlElement("members"), new Y.XmlElement("messages")]));
  return d;
}

function copy(d: Y.Doc): Y.Doc {
  const c = new Y.Doc();
  Y.applyUpdate(c, Y.encodeStateAsUpdate(d));
  return c;
}

test("schema JSON errors name the JSON path and what was expected", () => {
  assert.throws(() => compileSchema({ $root_tag_ref: "#/$defs/x" }, "s.json"), (e: unknown) => e instanceof SchemaError && /schema s.json: "\$defs" must be an object/.test((e as Error).message));
  assert.throws(() => compileSchema({ $root_tag_ref: "#/$defs/x", $defs: {} }, "s.json"), /root tag "x" is not defined in \$defs/);
  const bad = threadSchemaJson() as any;
  bad.$defs.member.properties.member.properties.type.type = "date";
  assert.throws(() => compileSchema(bad, "t.json"), /\$defs\.member\.properties\.member\.properties\.type\.type: expected string, number, boolean or null, got "date"/);
});

test("an update that nests a valid message passes; nesting it in the wrong place does not", () => {
  const server = seeded();
  const client = copy(server);
  const ok = updateOf(client, (root) => {
    const m = new Y.XmlElement("message");
    (root.get(1) as Y.XmlElement).push([m]);
    m.setAttribute("$id", "m1");
    m.setAttribute("text", "hi");
    const f = new Y.XmlElement("file");
    m.push([f]);
    f.setAttribute("path", "a.png");
  });
  assert.equal(schemaViolation(server, schema, ok), null);
  const wrong = updateOf(copy(server), (root) => (root.get(0) as Y.XmlElement).push([new Y.XmlElement("message")]));
  assert.match(schemaViolation(server, schema, wrong)!, /element "members" does not allow child element "message" in "items" \(allowed: member\)/);
  const text = updateOf(copy(server), (root) => (root.get(1) as Y.XmlElement).push([new Y.XmlText("loose text")]));
  assert.match(schemaViolation(server, schema, text)!, /element "messages" cannot hold text/);
  const c = copy(server);
  let u: Uint8Array | null = null;
  c.on("update", (x: Uint8Array) => (u = x));
  c.getMap("other").set("x", 1);
  assert.match(schemaViolation(server, schema, u!)!, /only the root "xml" element tree may be edited \(got an edit inside root type "other"\)/);
});

test("an update that builds on changes the server lacks is refused; one on a concurrently deleted element is let through", () => {
  const server = seeded();
  const a = copy(server);
  // `a` adds a message the server never hears of, then edits it.
  updateOf(a, (root) => {
    const m = new Y.XmlElement("message");
    (root.get(1) as Y.XmlElement).push([m]);
    m.setAttribute("$id", "m1");
  });
  const edit = updateOf(a, (root) => ((root.get(1) as Y.XmlElement).get(0) as Y.XmlElement).setAttribute("text", "later"));
  assert.match(schemaViolation(server, schema, edit)!, /builds on changes this document does not have/);

  // Both know the message; the server's copy deletes it (garbage-collected); b edits it meanwhile.
  const add = updateOf(copy(server), (root) => {
    const m = new Y.XmlElement("message");
    (root.get(1) as Y.XmlElement).push([m]);
    m.setAttribute("$id", "m2");
    m.setAttribute("text", "first");
  });
  Y.applyUpdate(server, add);
  const b = copy(server);
  updateOf(server, (root) => (root.get(1) as Y.XmlElement).delete(0, 1));
  const late = updateOf(b, (root) => ((root.get(1) as Y.XmlElement).get(0) as Y.XmlElement).setAttribute("text", "edited"));
  assert.equal(schemaViolation(server, schema, late), null, "Yjs drops it; nothing to refuse");
  Y.applyUpdate(server, late);
  assert.equal((server.get("xml", Y.XmlElement).get(1) as Y.XmlElement).length, 0);
});
