/**
 * Rooms prepared ahead (packages/runtime/src/docker/prepared.ts), through the real server,
 * real Docker and the SDK: a room's service containers are created and started before its
 * session, waiting in their launcher; the session delivers its token and id as files.
 * What must hold: a session runs in the held containers; a container never carries another
 * session's token, id or files; a configuration edit replaces what was prepared; nothing is
 * left behind — not by a clean shutdown, not by a SIGKILLed server once the next one starts.
 * No timing assertions: the figures are in bench/figures/rooms.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createDockerRuntime, defaultSecretsRoot, safeName, type DockerRuntime } from "@roomservice/runtime";
import { settle } from "./helpers.ts";
import { docker, execNode, IMAGES, labelled, manifest, serviceToken, startServicesServer, waitUntil } from "./services-env.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

async function states(client: any): Promise<any[]> {
  return (await client.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states;
}

function jwtPayload(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"));
}

/** Service containers of the room not yet used by a session (held: labelled with a pool id). */
function held(ownerId: string, room: string): string[] {
  return labelled(ownerId, room).filter((id) => {
    const labels = JSON.parse(docker("inspect", id))[0].Config.Labels as Record<string, string>;
    return labels["dev.roomservice.role"] === "service" && (labels["dev.roomservice.pool"] ?? "") !== "";
  });
}

const webManifest = (extraEnv: Record<string, string> = {}) =>
  manifest("web", IMAGES.http, {
    container: { image: IMAGES.http, environment: Object.entries(extraEnv).map(([name, value]) => ({ name, value })) },
    ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
  });

test("a prepared room's session runs in its held containers; the next session gets new ones with its own token and a clean /tmp; an edit replaces what was prepared", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 100, preparedRooms: 2 });
  t.after(() => env.close());
  const runtime = env.runtime as DockerRuntime;
  const room = "prep-room";
  const id = await env.addService(room, webManifest({ FLAVOUR: "one" }));

  // Saving the service prepares the room: a held container exists before any participant.
  await waitUntil("room prepared", () => runtime.isPrepared(room));
  const [first] = held(env.ownerId, room);
  assert.ok(first !== undefined, "a held service container exists before the session");
  const firstInspect = JSON.parse(docker("inspect", first))[0];
  assert.equal(firstInspect.State.Running, true, "held containers are started (their launcher waits)");
  assert.ok(!JSON.stringify(firstInspect).includes("MESHAGENT_TOKEN="), "no token in the held container's config");

  // Session 1 runs in that very container, with its own token.
  const alice = await env.ts.client(room, "alice");
  const web1 = await waitUntil("web running", async () => (await states(alice)).find((s) => s.state === "running"));
  assert.equal(web1.container_id, first, "the session used the held container");
  const session1 = env.ts.server.rooms.get(room)!.session!.id;
  const token1 = await serviceToken(web1.container_id);
  assert.equal(jwtPayload(token1).roomservice.session_id, session1);
  const inspect1 = JSON.stringify(JSON.parse(docker("inspect", web1.container_id))[0]);
  assert.ok(!inspect1.includes(token1) && !inspect1.includes(session1), "neither the token nor the session id is in docker inspect");
  // The service got them as environment variables (http-echo reports MESHAGENT_ROOM; the rest is read from the node process's environ: tini and envexec ran before it).
  const seen = await execNode(web1.container_id, "fetch('http://127.0.0.1:8080/').then(r=>r.json()).then(j=>console.log(j.room))");
  assert.equal(seen.out, room);
  const envOfService = await execNode(web1.container_id, "const fs=require('fs');const p=fs.readdirSync('/proc').filter(x=>/^\\d+$/.test(x)&&x!==String(process.pid)).find(x=>{try{return fs.readFileSync('/proc/'+x+'/cmdline','utf8').startsWith('node\\0/app/server.mjs')}catch{return false}});console.log(fs.readFileSync('/proc/'+p+'/environ','utf8').split('\\0').filter(e=>e.startsWith('MESHAGENT_TOKEN=')||e.startsWith('MESHAGENT_SESSION_ID=')).sort().join(' '))");
  assert.equal(envOfService.out, `MESHAGENT_SESSION_ID=${session1} MESHAGENT_TOKEN=${token1}`, envOfService.err);
  // Leave a mark in /tmp (tmpfs) and the writable layer is read-only: the next session must not find it.
  assert.equal((await execNode(web1.container_id, "require('fs').writeFileSync('/tmp/mark','session one');console.log('ok')")).out, "ok");

  await settle(alice);
  alice.dispose();
  await waitUntil("session 1 containers gone", () => !labelled(env.ownerId, room).includes(first));
  await waitUntil("room prepared again", () => runtime.isPrepared(room));
  const [second] = held(env.ownerId, room);
  assert.ok(second !== undefined && second !== first, "a new held container for the next session");

  // Session 2: its own token and id, nothing of session 1.
  const bob = await env.ts.client(room, "bob");
  const web2 = await waitUntil("web running again", async () => (await states(bob)).find((s) => s.state === "running"));
  assert.equal(web2.container_id, second);
  const session2 = env.ts.server.rooms.get(room)!.session!.id;
  assert.notEqual(session2, session1);
  const token2 = await serviceToken(web2.container_id);
  assert.notEqual(token2, token1);
  assert.equal(jwtPayload(token2).roomservice.session_id, session2);
  const tmp = await execNode(web2.container_id, "console.log(JSON.stringify(require('fs').readdirSync('/tmp')))");
  assert.deepEqual(JSON.parse(tmp.out), [], "an empty /tmp");
  const secrets = await execNode(web2.container_id, "console.log(JSON.stringify(require('fs').readdirSync('/run/secrets').sort()))");
  assert.deepEqual(JSON.parse(secrets.out), [".roomservice-start", "MESHAGENT_SESSION_ID", "MESHAGENT_TOKEN"]);
  await settle(bob);
  bob.dispose();
  await waitUntil("room prepared a third time", () => runtime.isPrepared(room) && held(env.ownerId, room).length === 1);
  const third = held(env.ownerId, room)[0]!;

  // An edit replaces the prepared container: the new one has the new configuration.
  await env.ts.server.services.update(id, "web", webManifest({ FLAVOUR: "two" }), Date.now());
  await waitUntil("prepared with the edit", () => runtime.isPrepared(room) && held(env.ownerId, room).some((c) => c !== third));
  await waitUntil("the outdated held container removed", () => !labelled(env.ownerId, room).includes(third));
  const fourth = held(env.ownerId, room)[0]!;
  const envFourth = JSON.parse(docker("inspect", fourth))[0].Config.Env as string[];
  assert.ok(envFourth.includes("FLAVOUR=two"));

  // Deleting the room's last service drops what was prepared.
  await env.ts.server.services.delete(id);
  await waitUntil("nothing held once the room has no services", () => labelled(env.ownerId, room).length === 0);
});

test("a held container whose configuration no longer matches is not used: the service starts in a new container with the session's spec", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 100, preparedRooms: 2 });
  t.after(() => env.close());
  const runtime = env.runtime as DockerRuntime;
  const room = "stale-room";
  const id = await env.addService(room, webManifest({ FLAVOUR: "old" }));
  await waitUntil("room prepared", () => runtime.isPrepared(room));
  const [stale] = held(env.ownerId, room);
  // Edit and join at once: the session snapshot has the new spec before any re-preparation.
  await env.ts.server.services.update(id, "web", webManifest({ FLAVOUR: "new" }), Date.now());
  const alice = await env.ts.client(room, "alice");
  const web = await waitUntil("web running", async () => (await states(alice)).find((s) => s.state === "running"));
  assert.notEqual(web.container_id, stale, "the stale held container was not used");
  assert.ok((JSON.parse(docker("inspect", web.container_id))[0].Config.Env as string[]).includes("FLAVOUR=new"));
  await waitUntil("the stale held container removed", () => !labelled(env.ownerId).includes(stale!));
  await settle(alice);
  alice.dispose();
});

test("a SIGKILLed server leaves held containers and their files behind; the next server's start removes them all", async (t) => {
  const ownerId = `test-kill-${Math.random().toString(36).slice(2, 8)}`;
  const script = `
    import { pino } from "pino";
    import { mkdtempSync } from "node:fs";
    import { tmpdir } from "node:os";
    import { join } from "node:path";
    import { createDockerRuntime } from "@roomservice/runtime";
    import { startRoomServer } from "@roomservice/server";
    const runtime = await createDockerRuntime({ ownerId: ${JSON.stringify(ownerId)}, logger: pino({ level: "silent" }), poolSize: 1, preparedRooms: 2 });
    const server = await startRoomServer({ host: "127.0.0.1", port: 0, dataDir: mkdtempSync(join(tmpdir(), "rs-kill-")), secret: "s", logger: pino({ level: "silent" }), runtime });
    await server.services.create("default", "kill-room", "web", ${JSON.stringify(webManifest())}, Date.now());
    for (;;) {
      if (runtime.isPrepared("kill-room") && runtime.pooled >= 1) { console.log("prepared"); break; }
      await new Promise((r) => setTimeout(r, 20));
    }
    setInterval(() => {}, 1000);
  `;
  // Images first (the child would otherwise build them itself).
  const env = await startServicesServer({ poolSize: 0 });
  await env.close();
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => child.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => d.toString().includes("prepared") && resolve());
    child.on("exit", (code) => reject(new Error(`server child exited ${code} before preparing`)));
  });
  const before = labelled(ownerId);
  assert.ok(before.length >= 3, `pooled pause + prepared pause + held service exist (${before.length})`);
  const secretsDir = join(defaultSecretsRoot(), safeName(ownerId));
  assert.ok(existsSync(secretsDir) && readdirSync(secretsDir).length > 0, "the held container's secrets directory exists");
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  assert.deepEqual(labelled(ownerId).sort(), before.sort(), "SIGKILL leaves the containers running under containerd");

  // The next start of a server with the same owner: reapOrphans runs before anything else.
  const next = await createDockerRuntime({ ownerId, logger: pino({ level: "silent" }) });
  const reaped = await next.reapOrphans();
  await next.close();
  assert.equal(reaped.containers, before.length);
  assert.deepEqual(labelled(ownerId), [], "nothing labelled with the owner remains");
  assert.ok(!existsSync(secretsDir), "no secret files remain");
});

test("closing the server removes prepared rooms: nothing labelled remains", async () => {
  const env = await startServicesServer({ poolSize: 1, preparedRooms: 2 });
  const runtime = env.runtime as DockerRuntime;
  await env.addService("close-room", webManifest());
  await waitUntil("room prepared", () => runtime.isPrepared("close-room"));
  assert.ok(held(env.ownerId, "close-room").length === 1);
  await env.ts.close(); // closes the runtime, without the test helper's extra reaping
  assert.deepEqual(labelled(env.ownerId), []);
  await env.close();
});

test("a project-wide edit re-prepares only the rooms the runtime still holds, not every room ever prepared (issue 10 figure 6)", async (t) => {
  // The launcher used to keep its own list of every room it had prepared: one entry per room
  // that ever had a session (growing for as long as the server ran), and a project-wide edit
  // re-prepared all of them — containers created for rooms the runtime evicts at once.
  const env = await startServicesServer({ poolSize: 0, preparedRooms: 1 });
  t.after(() => env.close());
  const runtime = env.runtime as DockerRuntime;
  const rooms = ["many-a", "many-b", "many-c"];
  for (const room of rooms) {
    await env.addService(room, webManifest());
    await waitUntil(`${room} prepared`, () => runtime.isPrepared(room), 90_000);
  }
  // One prepared room at most: the last.
  await waitUntil("earlier rooms evicted", () => runtime.preparing === 0 && labelled(env.ownerId, "many-a").length === 0 && labelled(env.ownerId, "many-b").length === 0, 90_000);
  assert.deepEqual(runtime.preparedRoomNames(), ["many-c"]);
  const asked: string[] = [];
  const prepare = runtime.prepareRoom.bind(runtime);
  runtime.prepareRoom = (room, specs) => {
    asked.push(room);
    prepare(room, specs);
  };
  await env.addService(null, manifest("side", IMAGES.http));
  await waitUntil("many-c re-prepared with the project-wide service", () => asked.includes("many-c") && runtime.isPrepared("many-c") && runtime.preparing === 0, 90_000);
  // The edit schedules every re-preparation at once (in the order the rooms are known), so
  // any other room would have been asked for long before many-c's containers are ready.
  assert.deepEqual(asked, ["many-c"], "only the room the runtime holds prepared is prepared again");
  assert.deepEqual(labelled(env.ownerId, "many-a"), [], "nothing created for an evicted room");
});
