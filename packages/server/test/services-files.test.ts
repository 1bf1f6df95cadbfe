/**
 * MeshAgent's `container.storage.files`, `container.storage.empty_dirs` and top-level `files`
 * through the real server, real Docker and the SDK: what the service sees in its container
 * (read-only file not writable, writable file its own, empty dir empty — again after a
 * restart), room files created before the services start and never overwritten (the first
 * service by name wins a path two declare), and held containers of prepared rooms keyed on
 * the files' text, never carrying another session's changes. The same fields under the
 * sandbox runtime; podman and every runtime's reaping: the runtime conformance suite.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { createSandboxRuntime, type DockerRuntime } from "@roomservice/runtime";
import { RoomStorage } from "../src/storage/room-storage.ts";
import { settle, startTestServer } from "./helpers.ts";
import { docker, execNode, IMAGES, labelled, manifest, startServicesServer, waitUntil } from "./services-env.ts";

async function states(client: any): Promise<any[]> {
  return (await client.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states;
}

/** What a service sees of its mounts, read inside its container (`docker exec`). */
const LOOK = `const fs=require("fs");const t=(f)=>{try{f();return "ok"}catch(e){return e.code}};
console.log(JSON.stringify({
  config: fs.readFileSync("/etc/app/config.yaml","utf8"), configWrite: t(()=>fs.writeFileSync("/etc/app/config.yaml","x")),
  state: fs.readFileSync("/var/lib/app/state.json","utf8"), scratch: fs.readdirSync("/scratch"),
}))`;
const CHANGE = `const fs=require("fs");fs.appendFileSync("/var/lib/app/state.json","+changed");fs.writeFileSync("/scratch/left","x");console.log("ok")`;

const filesManifest = (name: string, port: number, o: { state?: string; roomText?: string; more?: { path: string; text: string }[] } = {}) => manifest(name, IMAGES.http, {
  container: {
    image: IMAGES.http,
    environment: [{ name: "PORT", value: String(port) }],
    storage: {
      files: [
        { path: "/etc/app/config.yaml", text: `service: ${name}\n` },
        { path: "/var/lib/app/state.json", text: o.state ?? '{"n":1}', read_only: false },
      ],
      empty_dirs: [{ path: "/scratch" }],
    },
  },
  files: [{ path: "/notes/welcome.md", text: o.roomText ?? `welcome from ${name}` }, { path: "kept.md", text: "the manifest's text" }, ...(o.more ?? [])],
  ports: [{ num: port, type: "http", liveness: "/healthz" }],
});

test("a room's services see their file mounts and empty dirs; room files are created before they start, never overwritten, first service by name wins", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const ts = env.ts;
  const room = "files-room";
  // Already in room storage: left alone.
  await new RoomStorage(ts.server.rooms.roomDir(room)).writeFile("kept.md", Buffer.from("the room's own text"), { overwrite: false });
  const key = (await ts.server.apiKeys.create("default", "ops", Date.now())).key;
  const create = async (m: Record<string, unknown>) => {
    const r = await fetch(`${ts.url}/accounts/projects/default/rooms/${room}/services`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(m) });
    assert.equal(r.status, 201, await r.clone().text());
    return (await r.json()) as { id: string; warnings: { path: string; message: string }[] };
  };
  const alpha = await create(filesManifest("alpha", 8080));
  assert.deepEqual(alpha.warnings, []);
  // A second service declares the same room file with other text: warned at create time.
  const zulu = await create(filesManifest("zulu", 8081));
  assert.deepEqual(zulu.warnings.map((w) => w.path), ["files[0].path"]);
  assert.match(zulu.warnings[0]!.message, /also declared, with other text, by service "alpha".*only the first by name \(alpha\) creates it/);

  const alice = await ts.client(room, "alice");
  const running = await waitUntil("both running", async () => {
    const st = await states(alice);
    return st.length === 2 && st.every((s) => s.state === "running") ? st : null;
  }, 60_000);
  const storage = join(ts.server.rooms.roomDir(room), "storage");
  assert.equal(await readFile(join(storage, "notes/welcome.md"), "utf8"), "welcome from alpha", "the first service by name created it");
  assert.equal(await readFile(join(storage, "kept.md"), "utf8"), "the room's own text", "an existing file is never overwritten");
  assert.ok((await alice.storage.exists("notes/welcome.md")), "participants see it through the storage API");
  assert.ok(env.logs.some((l) => l.includes('room file \\"notes/welcome.md\\" of service zulu was not used: service alpha (first by name)')), "the conflict is reported");

  const alphaState = running.find((s) => s.service_id === alpha.id);
  const c1 = alphaState.container_id as string;
  const seen = JSON.parse((await execNode(c1, LOOK)).out);
  assert.deepEqual(seen, { config: "service: alpha\n", configWrite: "EROFS", state: '{"n":1}', scratch: [] });
  // Each service has its own copy of a writable file.
  const zuluSeen = JSON.parse((await execNode(running.find((s) => s.service_id === zulu.id).container_id, LOOK)).out);
  assert.equal(zuluSeen.config, "service: zulu\n");
  assert.equal((await execNode(c1, CHANGE)).out, "ok");
  assert.equal(JSON.parse((await execNode(c1, LOOK)).out).state, '{"n":1}+changed');

  // A restart is a new container: the writable file starts from the text again, the empty dir is empty.
  await ts.server.launcher.restart(room, alpha.id);
  const c2 = await waitUntil("alpha running in a new container", async () => {
    const s = (await states(alice)).find((x) => x.service_id === alpha.id);
    return s.state === "running" && s.container_id !== c1 ? s.container_id as string : null;
  }, 60_000);
  assert.deepEqual(JSON.parse((await execNode(c2, LOOK)).out), { config: "service: alpha\n", configWrite: "EROFS", state: '{"n":1}', scratch: [] });
  // The files are not part of the container's configuration as `docker inspect` shows it, only their mounts.
  const inspect = JSON.parse(docker("inspect", c2))[0];
  assert.ok(!JSON.stringify(inspect.Config).includes("service: alpha"));
  assert.ok(inspect.HostConfig.Tmpfs["/scratch"], JSON.stringify(inspect.HostConfig.Tmpfs));

  // A service restarted with a version declaring a new room file: created then, and announced.
  const updated: string[] = [];
  alice.storage.on("file.updated", (e: any) => updated.push(`${e.path} by ${e.participantId}`));
  await ts.server.services.update(zulu.id, "zulu", filesManifest("zulu", 8081, { more: [{ path: "zulu/added.txt", text: "added later" }] }), Date.now());
  await ts.server.launcher.restart(room, zulu.id);
  assert.equal(await readFile(join(storage, "zulu/added.txt"), "utf8"), "added later");
  await waitUntil("announced", () => updated.includes("zulu/added.txt by null"));
  assert.equal(await readFile(join(storage, "notes/welcome.md"), "utf8"), "welcome from alpha", "still alpha's");
  await settle(alice);
  alice.dispose();
});

test("prepared rooms: the held container has the files of its configuration, a session's changes never reach the next one, a new text is prepared anew", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 100, preparedRooms: 2 });
  t.after(() => env.close());
  const runtime = env.runtime as DockerRuntime;
  const room = "files-prep";
  const id = await env.addService(room, filesManifest("web", 8080));
  const heldNow = () => labelled(env.ownerId, room).filter((c) => {
    const labels = JSON.parse(docker("inspect", c))[0].Config.Labels as Record<string, string>;
    return labels["dev.roomservice.role"] === "service" && (labels["dev.roomservice.pool"] ?? "") !== "";
  });
  await waitUntil("room prepared", () => runtime.isPrepared(room) && heldNow().length === 1, 60_000);
  const first = heldNow()[0]!;

  const alice = await env.ts.client(room, "alice");
  const web1 = await waitUntil("web running", async () => (await states(alice)).find((s) => s.state === "running"), 60_000);
  assert.equal(web1.container_id, first, "the session used the held container");
  assert.deepEqual(JSON.parse((await execNode(first, LOOK)).out), { config: "service: web\n", configWrite: "EROFS", state: '{"n":1}', scratch: [] });
  assert.equal((await execNode(first, CHANGE)).out, "ok");
  await settle(alice);
  alice.dispose();

  await waitUntil("prepared again", () => runtime.isPrepared(room) && heldNow().some((c) => c !== first), 60_000);
  const bob = await env.ts.client(room, "bob");
  const web2 = await waitUntil("web running again", async () => (await states(bob)).find((s) => s.state === "running"), 60_000);
  assert.notEqual(web2.container_id, first);
  assert.deepEqual(JSON.parse((await execNode(web2.container_id, LOOK)).out), { config: "service: web\n", configWrite: "EROFS", state: '{"n":1}', scratch: [] }, "nothing of session one");
  await settle(bob);
  bob.dispose();

  // A new text is a new configuration: what was held is replaced, and the next session sees the new text.
  await waitUntil("prepared a third time", () => runtime.isPrepared(room) && heldNow().length === 1 && !heldNow().includes(web2.container_id), 60_000);
  const third = heldNow()[0]!;
  await env.ts.server.services.update(id, "web", filesManifest("web", 8080, { state: '{"n":2}' }), Date.now());
  await waitUntil("prepared with the edit", () => runtime.isPrepared(room) && heldNow().length === 1 && heldNow()[0] !== third, 60_000);
  const carol = await env.ts.client(room, "carol");
  const web3 = await waitUntil("web running with the edit", async () => (await states(carol)).find((s) => s.state === "running"), 60_000);
  assert.equal(JSON.parse((await execNode(web3.container_id, LOOK)).out).state, '{"n":2}');
  await settle(carol);
  carol.dispose();
});

test("sandbox runtime: the same manifest fields, from the host's filesystem", async (t) => {
  const ownerId = `test-sbxf-${randomBytes(4).toString("hex")}`;
  const logger = pino({ level: "warn" }, { write: () => {} });
  const runtime = await createSandboxRuntime({ ownerId, logger });
  const ts = await startTestServer({ runtime, logger, departureTimeoutMs: 300 });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans(ownerId);
  });
  const script = `const fs=require("fs");const t=(f)=>{try{f();return "ok"}catch(e){return e.code}};
console.log("FILES "+JSON.stringify({ config: fs.readFileSync("/rs-app/config.yaml","utf8"), configWrite: t(()=>fs.writeFileSync("/rs-app/config.yaml","x")),
  state: fs.readFileSync("/rs-app/state.json","utf8"), stateWrite: t(()=>fs.appendFileSync("/rs-app/state.json","+")), scratch: fs.readdirSync("/rs-app/scratch") }));
setInterval(()=>{},1<<30);`;
  await ts.server.services.create("default", "sbx-files", "files", {
    version: "v1", kind: "Service", metadata: { name: "files" },
    container: {
      image: "host", command: [process.execPath, "-e", script],
      storage: {
        // The sandbox makes mount points only where no host directory must change: /rs-app is a new top-level directory.
        files: [{ path: "/rs-app/config.yaml", text: "from the manifest\n" }, { path: "/rs-app/state.json", text: "{}", read_only: false }],
        empty_dirs: [{ path: "/rs-app/scratch" }],
      },
    },
    files: [{ path: "sbx/created.md", text: "room file" }],
  }, Date.now());
  const alice = await ts.client("sbx-files", "alice");
  const lines: string[] = [];
  void (async () => {
    for await (const e of alice.developer.logs()) if (e.type === "service.log") lines.push(String((e.data as { line: string }).line));
  })().catch(() => undefined);
  const line = await waitUntil("the FILES line", () => lines.find((l) => l.startsWith("FILES ")), 30_000);
  const seen = JSON.parse(line.slice("FILES ".length));
  assert.deepEqual(seen, { config: "from the manifest\n", configWrite: "EROFS", state: "{}", stateWrite: "ok", scratch: [] });
  assert.equal(await readFile(join(ts.server.rooms.roomDir("sbx-files"), "storage", "sbx/created.md"), "utf8"), "room file");
  await settle(alice);
  alice.dispose();
});
