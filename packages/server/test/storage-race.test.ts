/**
 * Issue #12 item 1: a service that keeps swapping `/data/d` between a folder and a symlink to
 * a host folder, while a participant uploads and downloads `d/x.txt` through the SDK, must
 * not get anything written into or read from the host folder.
 *
 * The swapper is a real room service (Docker, the room's storage mounted at /data as every
 * service gets it, root inside its container). The symlink holds an absolute host path:
 * meaningless inside the container, it is what the server would follow on the host.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { settle, startTestServer } from "./helpers.ts";
import { buildLaunchSpec, LaunchError } from "../src/services/launch-spec.ts";
import { startServicesServer, manifest, IMAGES, docker, waitUntil } from "./services-env.ts";
import { RoomStorage } from "../src/storage/room-storage.ts";

const RACE_MS = Number(process.env.ROOMSERVICE_RACE_MS ?? 30_000);
const HOST_SECRET = "HOST-ORIGINAL-CONTENT";

test("a room service swapping /data/d between a folder and a symlink to a host folder never gets the server to write or read there (30 s race)", { timeout: RACE_MS + 180_000 }, async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const ts = env.ts;
  const hostDir = await mkdtemp(join(tmpdir(), "rs-escape-"));
  t.after(() => rm(hostDir, { recursive: true, force: true }));
  await writeFile(join(hostDir, "x.txt"), HOST_SECRET);

  // One line: the manifest command is split into words like a shell would, no shell runs.
  const swap = [
    `const fs = require("fs"); let n = 0;`,
    `for (;;) {`,
    `try { fs.rmSync("/data/d", { recursive: true, force: true }); fs.mkdirSync("/data/d"); } catch {}`,
    `try { fs.rmSync("/data/d", { recursive: true, force: true }); fs.symlinkSync(${JSON.stringify(hostDir)}, "/data/d"); } catch {}`,
    `if (++n % 1000 === 0) console.log("swaps", n); }`,
  ].join(" ");
  await env.addService("race", manifest("swapper", IMAGES.http, { container: { image: IMAGES.http, command: `/usr/local/bin/node -e ${JSON.stringify(swap)}` } }));

  const alice = await ts.client("race", "alice");
  const state = await waitUntil("swapper running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st.length === 1 && st[0].state === "running" ? st[0] : null;
  });
  const containerId = state.container_id as string;
  await waitUntil("swapping", () => /swaps \d+/.test(docker("logs", containerId)));

  let uploads = 0;
  let reads = 0;
  let refused = 0;
  const deadline = Date.now() + RACE_MS;
  for (let i = 0; Date.now() < deadline; i++) {
    try {
      await alice.storage.upload("d/x.txt", Buffer.from(`room-content-${i}`), { overwrite: true });
      uploads++;
    } catch {
      refused++; // a symlink (403), a vanished folder (404) or a swapped type (409): all fine
    }
    for (const op of [
      async () => Buffer.from((await alice.storage.download("d/x.txt")).data).toString("utf8"),
      async () => {
        const r = await fetch(await alice.storage.downloadUrl("d/x.txt"));
        return r.ok ? await r.text() : "";
      },
      async () => JSON.stringify(await alice.storage.list("d")),
      async () => JSON.stringify(await alice.storage.stat("d/x.txt")),
    ]) {
      let seen: string;
      try {
        seen = await op();
        reads++;
      } catch {
        refused++;
        continue;
      }
      assert.ok(!seen.includes(HOST_SECRET), `read the host folder's file through the room: ${seen}`);
    }
    try {
      await alice.storage.delete("d/x.txt");
    } catch {
      refused++;
    }
  }
  assert.match(docker("logs", containerId), /swaps \d+/, "the swapper kept running");
  await settle(alice);

  // Nothing was written into the host folder, and its file is untouched.
  assert.deepEqual(await readdir(hostDir), ["x.txt"]);
  assert.equal(await readFile(join(hostDir, "x.txt"), "utf8"), HOST_SECRET);
  // The race was real: the participant's operations both succeeded and were refused.
  assert.ok(uploads > 0 && reads > 0, `nothing succeeded (${uploads} uploads, ${reads} reads, ${refused} refused)`);
  assert.ok(refused > 0, "no operation was refused: the swap never hit");
  t.diagnostic(`uploads ok ${uploads}, reads ok ${reads}, refused ${refused}`);
});

test("every storage operation refuses a symlink anywhere in the path and leaves the link's target alone", async (t) => {
  const roomDir = await mkdtemp(join(tmpdir(), "rs-room-"));
  const hostDir = await mkdtemp(join(tmpdir(), "rs-host-"));
  t.after(() => rm(roomDir, { recursive: true, force: true }));
  t.after(() => rm(hostDir, { recursive: true, force: true }));
  await writeFile(join(hostDir, "x.txt"), HOST_SECRET);
  await mkdir(join(hostDir, "sub"));
  const storage = new RoomStorage(roomDir);
  await storage.ensureFolder("real");
  await writeFile(join(storage.root, "real", "ok.txt"), "room");
  await symlink(hostDir, join(storage.root, "d"));
  await symlink(hostDir, join(storage.root, "real", "deep"));
  await symlink(join(hostDir, "x.txt"), join(storage.root, "file-link"));

  for (const p of ["d/x.txt", "real/deep/x.txt", "d/sub/x.txt"]) {
    await assert.rejects(storage.openRead(p), /is a symlink; storage never follows links/, p);
    await assert.rejects(storage.readFile(p), /is a symlink/, p);
    await assert.rejects(storage.writeFile(p, Buffer.from("evil"), { overwrite: true }), /is a symlink/, p);
    await assert.rejects(storage.beginUpload(p, true).then((u) => u.commit()), /is a symlink/, p);
    await assert.rejects(storage.delete(p, true), /is a symlink/, p);
    await assert.rejects(storage.move("real/ok.txt", p, true), /is a symlink/, p);
    await assert.rejects(storage.move(p, "real/moved.txt", true), /is a symlink/, p);
    assert.equal(await storage.stat(p), null, p);
  }
  await assert.rejects(storage.openRead("file-link"), /is a symlink/);
  await assert.rejects(storage.list("d"), /is a symlink/);
  await assert.rejects(storage.list("real/deep"), /is a symlink/);
  await assert.rejects(storage.ensureFolder("d/new"), /is a symlink/);
  await assert.rejects(storage.mountSource("d/sub"), /is a symlink/);
  await assert.rejects(storage.move("d", "real/d2", true), /is a symlink; storage never follows or moves links/);
  assert.deepEqual((await storage.list("")).map((e) => e.name), ["real"], "links are not listed");
  assert.deepEqual((await storage.list("real")).map((e) => e.name), ["ok.txt"]);
  // Deleting a link removes the link, never what it points to; a recursive delete of a folder
  // holding links removes the links only.
  await storage.delete("file-link", false);
  await storage.delete("real", true);
  assert.deepEqual((await readdir(storage.root)).sort(), ["d"]);
  assert.deepEqual((await readdir(hostDir)).sort(), ["sub", "x.txt"]);
  assert.equal(await readFile(join(hostDir, "x.txt"), "utf8"), HOST_SECRET);
  assert.deepEqual(await readdir(join(hostDir, "sub")), []);
});

test("a service storage mount whose subpath a service turned into a symlink is refused at launch, not bind-mounted", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const hostDir = await mkdtemp(join(tmpdir(), "rs-host-"));
  t.after(() => rm(hostDir, { recursive: true, force: true }));
  const storageRoot = join(ts.dataDir, "rooms", "mounts", "storage");
  await mkdir(storageRoot, { recursive: true });
  await symlink(hostDir, join(storageRoot, "reports"));
  const spec = (subpath: string) => ({
    version: "v1", kind: "Service", metadata: { name: "m" },
    container: { image: "example/m:1", storage: { room: [{ path: "/reports", subpath }] } },
  });
  const lc = { ctx: ts.server.ctx, secrets: ts.server.secrets, room: "mounts", sessionId: "s1", storageRoot, roomUrl: "ws://127.0.0.1:8078" };
  const rec = (subpath: string) => ({ id: "svc", project: "default", room: "mounts", name: "m", spec: spec(subpath), version: 1, createdAt: 0, updatedAt: 0 }) as never;
  await assert.rejects(buildLaunchSpec(rec("reports"), lc), (err: Error) => err instanceof LaunchError && /"reports".*is a symlink/.test(err.message));
  await assert.rejects(buildLaunchSpec(rec("reports/inner"), lc), /is a symlink/);
  assert.deepEqual(await readdir(hostDir), [], "nothing created through the link");
  // A plain subpath is created inside the room's storage and mounted from there.
  const ok = await buildLaunchSpec(rec("docs/2026"), lc);
  assert.deepEqual(ok.mounts.map((m) => [m.hostPath, m.containerPath])[0], [join(storageRoot, "docs/2026"), "/reports"]);
});
