import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, createHash } from "node:crypto";
import { symlink, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { startTestServer, eventually } from "./helpers.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function* chunked(buf: Buffer, size: number) {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(i + size, buf.length));
}

test("a 20 MB file uploaded by streaming downloads byte-identical", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("files", "alice");
  const data = randomBytes(20 * 1024 * 1024);
  await alice.storage.uploadStream("big/random.bin", chunked(data, 256 * 1024), { size: data.length });
  const st = await alice.storage.stat("big/random.bin");
  assert.equal(st.size, data.length);
  assert.equal(st.isFolder, false);

  const file = await alice.storage.download("big/random.bin");
  assert.equal(file.data.length, data.length);
  assert.equal(sha(file.data), sha(data));
  assert.equal(file.name, "random.bin");

  // Streamed download as well.
  const parts: Uint8Array[] = [];
  for await (const chunk of await alice.storage.downloadStream("big/random.bin", { chunkSize: 1024 * 1024 })) {
    if (chunk.headers.kind === "data") parts.push(chunk.data);
  }
  assert.equal(sha(Buffer.concat(parts)), sha(data));
});

test("list, stat, exists, move and delete work and other participants receive file events", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("files2", "alice");
  const bob = await ts.client("files2", "bob");
  const events: any[] = [];
  // (not the thread schema the server seeds, and announces, as the session starts)
  bob.storage.on("file.updated", (e: any) => void (e.path !== ".schemas/thread.json" && events.push({ kind: "updated", path: e.path, by: e.participantId })));
  bob.storage.on("file.moved", (e: any) => events.push({ kind: "moved", from: e.sourcePath, to: e.destinationPath }));
  bob.storage.on("file.deleted", (e: any) => events.push({ kind: "deleted", path: e.path }));

  await alice.storage.upload("docs/a.txt", Buffer.from("hello"));
  await alice.storage.upload("docs/sub/b.md", Buffer.from("# b"));
  await eventually(() => events.filter((e) => e.kind === "updated").length === 2, 5000, "updated events");
  assert.equal(events[0].path, "docs/a.txt");
  assert.equal(events[0].by, alice.localParticipant.id);

  const listing = await alice.storage.list("docs");
  assert.deepEqual(listing.map((e: any) => [e.name, e.isFolder]), [["a.txt", false], ["sub", true]]);
  assert.equal(listing[0].size, 5);
  assert.ok(listing[0].updatedAt instanceof Date);
  // Every session seeds `.schemas/thread.json` (the chat thread schema, docs/chat.md).
  assert.deepEqual((await alice.storage.list("")).map((e: any) => e.name), [".schemas", "docs"]);
  assert.equal(await alice.storage.exists("docs/a.txt"), true);
  assert.equal(await alice.storage.exists("docs/nope.txt"), false);
  assert.equal(await alice.storage.stat("docs/nope.txt"), null);

  // Upload without overwrite onto an existing file is refused; with overwrite it replaces.
  await assert.rejects(alice.storage.upload("docs/a.txt", Buffer.from("x")), /already exists/);
  await alice.storage.upload("docs/a.txt", Buffer.from("hello again"), { overwrite: true });
  assert.equal(Buffer.from((await bob.storage.download("docs/a.txt")).data).toString(), "hello again");

  await alice.storage.move("docs/a.txt", "archive/a.txt");
  await eventually(() => events.some((e) => e.kind === "moved"), 5000, "moved event");
  assert.deepEqual(events.find((e) => e.kind === "moved"), { kind: "moved", from: "docs/a.txt", to: "archive/a.txt" });
  assert.equal(await alice.storage.exists("docs/a.txt"), false);
  assert.equal(await alice.storage.exists("archive/a.txt"), true);

  await assert.rejects(alice.storage.delete("docs"), /not empty/);
  await alice.storage.delete("docs", { recursive: true });
  await eventually(() => events.some((e) => e.kind === "deleted" && e.path === "docs"), 5000, "deleted event");
  assert.equal(await alice.storage.exists("docs/sub/b.md"), false);
  await assert.rejects(alice.storage.delete("docs"), /does not exist/);
  assert.ok(!events.some((e) => e.by === bob.localParticipant.id), "bob gets only others' events");
});

test("download_url returns a short-lived HTTP URL that serves the file", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("files3", "alice");
  await alice.storage.upload("report.json", Buffer.from('{"ok":true}'));
  const url: string = await alice.storage.downloadUrl("report.json");
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/rooms\/files3\/storage\/download\?token=/);
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(await res.text(), '{"ok":true}');
  const bad = await fetch(url.replace(/token=.*/, "token=abc"));
  assert.equal(bad.status, 403);
  const otherRoom = await fetch(url.replace("/rooms/files3/", "/rooms/other/"));
  assert.equal(otherRoom.status, 403);
});

test("paths that escape the room are refused with a clear error", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("files4", "alice");
  await assert.rejects(alice.storage.upload("../x", Buffer.from("x")), /"\.\." is not allowed/);
  await assert.rejects(alice.storage.download("/etc/passwd"), /absolute path/);
  await assert.rejects(alice.storage.list("a/../../.."), /"\.\." is not allowed/);
  await assert.rejects(alice.storage.stat("/etc/passwd"), /absolute path/);
  await assert.rejects(alice.storage.move("x", "../../y"), /"\.\." is not allowed/);

  // A symlink planted inside the room's tree that points outside is never followed.
  const root = join(ts.dataDir, "rooms", "files4", "storage");
  await mkdir(root, { recursive: true });
  await symlink("/etc", join(root, "etc-link"));
  await assert.rejects(alice.storage.download("etc-link/passwd"), /is a symlink; storage never follows links/);
  await assert.rejects(alice.storage.upload("etc-link/evil", Buffer.from("x")), /is a symlink; storage never follows links/);
  assert.deepEqual((await alice.storage.list("")).map((e: any) => e.name).filter((n: string) => n !== ".schemas"), [], "links are not listed");
});
