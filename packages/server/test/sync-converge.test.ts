import { test } from "node:test";
import assert from "node:assert/strict";
import * as Y from "yjs";
import { startTestServer, eventually } from "./helpers.ts";
import { randomThreadEdit, rng, treeJson, rawOpen, yTreeJson } from "./sync-helpers.ts";

// SDK 0.39.9 logs every change it applies to its element tree; thousands of lines here.
const quiet = () => {
  const log = console.log;
  console.log = (...a: unknown[]) => (typeof a[0] === "string" && a[0].startsWith("Applying changes") ? undefined : log(...a));
};

test("two SDK clients edit one thread concurrently and converge; a late third and a later session see it; a reconnect gets only the missing part", { timeout: 240_000 }, async () => {
  quiet();
  const ts = await startTestServer({ departureTimeoutMs: 100 });
  try {
    const room = "sync-room";
    const alice = await ts.client(room, "alice");
    const bob = await ts.client(room, "bob");
    await eventually(() => alice.storage.exists(".schemas/thread.json"), 5000, "the seeded thread schema");
    const path = ".threads/alice-bob.thread";
    const da = await alice.sync.open(path);
    const db = await bob.sync.open(path);
    // The thread schema's ordered children were created with the document.
    assert.deepEqual(da.root.getChildren().map((c: any) => c.tagName), ["members", "messages"]);

    const ra = rng(1);
    const rb = rng(2);
    for (let i = 0; i < 1000; i++) {
      randomThreadEdit(da, ra, "alice", i);
      randomThreadEdit(db, rb, "bob", i);
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await eventually(() => JSON.stringify(treeJson(da.root)) === JSON.stringify(treeJson(db.root)), 90_000, "both editors to converge");
    const converged = JSON.stringify(treeJson(da.root));
    const messageCount = da.root.getChildren()[1].getChildren().length;
    assert.ok(messageCount > 10, `a non-trivial thread (${messageCount} messages)`);

    // A snapshot of the current state, to reconnect with later.
    const snap = new Y.Doc();
    const raw1 = await rawOpen(alice, { path });
    Y.applyUpdate(snap, raw1.state);
    raw1.close();
    assert.equal(JSON.stringify(yTreeJson(snap, "thread")), converged, "the server's state is the editors' state");

    const carol = await ts.client(room, "carol");
    const dc = await carol.sync.open(path);
    await eventually(() => JSON.stringify(treeJson(dc.root)) === converged, 10_000, "the late third editor to get the same state");

    // More edits after the snapshot; a reconnect with the snapshot's vector gets only those.
    const before = Y.encodeStateAsUpdate(snap).length;
    for (let i = 0; i < 20; i++) randomThreadEdit(dc, rng(3), "carol", i);
    await eventually(() => JSON.stringify(treeJson(da.root)) === JSON.stringify(treeJson(dc.root)), 10_000, "carol's edits to reach alice");
    const vector = Buffer.from(Y.encodeStateVector(snap)).toString("base64");
    const diff = await rawOpen(bob, { path, vector });
    diff.close();
    const full = await rawOpen(bob, { path });
    full.close();
    assert.ok(diff.state.length < full.state.length / 5, `the diff (${diff.state.length} B) is a small part of the full state (${full.state.length} B; snapshot ${before} B)`);
    Y.applyUpdate(snap, diff.state);
    assert.equal(JSON.stringify(yTreeJson(snap, "thread")), JSON.stringify(treeJson(da.root)), "snapshot + diff = current state");
    const finalJson = JSON.stringify(treeJson(da.root));

    // Everyone leaves; the session ends; a new session reopens the document from storage.
    for (const c of [alice, bob, carol]) c.dispose();
    await eventually(() => ts.server.rooms.get(room) === undefined, 10_000, "the session to end");
    const dave = await ts.client(room, "dave");
    const dd = await dave.sync.open(path);
    assert.equal(JSON.stringify(treeJson(dd.root)), finalJson, "the next session reopens everything");
  } finally {
    await ts.close();
  }
});
