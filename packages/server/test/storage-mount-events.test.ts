/**
 * Storage events for files written around the Room API (as services do through their
 * mounts): written straight into the room's storage folder here, with the watcher started
 * the way the launcher starts it (a service run that mounts room storage).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rename, symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startTestServer, eventually } from "./helpers.ts";

test("writes into room storage outside the API raise file.updated / file.deleted once; dot-files are skipped; API writes are not echoed", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("mounted", "alice");
  const bob = await ts.client("mounted", "bob");
  const events: { kind: string; path: string; by: unknown }[] = [];
  bob.storage.on("file.updated", (e: any) => events.push({ kind: "updated", path: e.path, by: e.participantId }));
  bob.storage.on("file.deleted", (e: any) => events.push({ kind: "deleted", path: e.path, by: e.participantId }));

  const room = ts.server.rooms.get("mounted")!;
  const root = room.storage.root;
  await mkdir(join(root, "out"), { recursive: true });
  // What the launcher announces when it starts a service whose manifest mounts room storage.
  ts.server.launcher.serviceStarted.emit("started", {
    room: "mounted", sessionId: room.session!.id, sandbox: {} as never,
    record: { spec: { version: "v1", kind: "Service", metadata: { name: "writer" }, container: { image: "i", storage: { room: [{ path: "/data" }] } } } } as never, handle: {} as never,
  });

  // An API upload: bob hears it once, from alice, and the watcher does not repeat it.
  await alice.storage.upload("up.txt", Buffer.from("via the API"));
  // A plain write, and an atomic one through a dot-named temp file.
  await writeFile(join(root, "out/a.txt"), "first");
  await writeFile(join(root, "out/.b.txt.tmp"), "second");
  await rename(join(root, "out/.b.txt.tmp"), join(root, "out/b.txt"));
  await eventually(() => events.some((e) => e.path === "out/b.txt"), 10_000, "out/b.txt announced");
  await unlink(join(root, "out/a.txt"));
  // A link planted in the mount is never followed, so never announced.
  await symlink("/etc/hostname", join(root, "out/link.txt"));
  // Events of one watcher are announced in order, so once the marker is in, so is everything before it.
  await writeFile(join(root, "marker.txt"), "m");
  await eventually(() => events.some((e) => e.path === "marker.txt"), 10_000, "marker announced");

  const aliceId = alice.localParticipant.id;
  // (.schemas/thread.json: the server seeds it as the session starts and announces it itself)
  assert.deepEqual(events.filter((e) => (e.path !== "out/a.txt" || e.kind === "deleted") && e.path !== ".schemas/thread.json").sort((x, y) => x.path.localeCompare(y.path)), [
    { kind: "updated", path: "marker.txt", by: null },
    { kind: "deleted", path: "out/a.txt", by: null },
    { kind: "updated", path: "out/b.txt", by: null },
    { kind: "updated", path: "up.txt", by: aliceId },
  ]);
  // out/a.txt may have been announced as updated before its deletion, at most once.
  assert.ok(events.filter((e) => e.path === "out/a.txt" && e.kind === "updated").length <= 1);
  assert.ok(!events.some((e) => e.path.includes(".tmp")));
  assert.ok(!events.some((e) => e.path === "out/link.txt"));
});

test("a service mounts room storage when its launch spec does: the implicit /data of the agent template counts, template none without storage does not", async () => {
  const { mountsRoomStorage } = await import("../src/storage/mount-events.ts");
  const base = { version: "v1", kind: "Service", metadata: { name: "s" } };
  assert.equal(mountsRoomStorage({ ...base, container: { image: "i" } }), true, "no storage declared: the agent template mounts /data");
  assert.equal(mountsRoomStorage({ ...base, container: { image: "i", storage: { room: [{ path: "/files" }] } } }), true);
  assert.equal(mountsRoomStorage({ ...base, container: { image: "i", template: "none" } }), false);
  assert.equal(mountsRoomStorage({ ...base, container: {} }), false, "an invalid manifest mounts nothing");
});

test("documents the server saves (sync) raise storage.file.updated, with participant_id null", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("saved", "alice");
  const bob = await ts.client("saved", "bob");
  const events: { path: string; by: unknown }[] = [];
  bob.storage.on("file.updated", (e: any) => events.push({ path: e.path, by: e.participantId }));
  // The thread schema is seeded as the session starts: a `.thread` document needs it.
  await eventually(async () => (await alice.storage.exists(".schemas/thread.json")) as boolean, 10_000, "the thread schema");
  const doc: any = await alice.sync.open("notes/plan.thread", { create: true });
  const members = doc.root.getChildren().find((c: any) => c.tagName === "members") ?? doc.root.createChildElement("members", {});
  members.createChildElement("member", { name: "alice" });
  await eventually(() => events.some((e) => e.path === "notes/plan.thread"), 10_000, "the saved document announced");
  assert.ok(events.filter((e) => e.path === "notes/plan.thread").every((e) => e.by === null), JSON.stringify(events));
  await alice.sync.close("notes/plan.thread");
});
