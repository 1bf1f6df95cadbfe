/**
 * Issue 12 lifecycle cases through the real server, real Docker and the SDK: one server per
 * data directory (#12), a failed restart says why (#14), service tokens bound to their
 * session (#15), port conflicts warned at create (#16), a lost room namespace rebuilt (#22),
 * and the small ones (#25).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { createDockerRuntime, defaultSecretsRoot, type Runtime, type RoomSandbox } from "@roomservice/runtime";
import { DataDirLockedError, defaultApiScope, mintParticipantToken, startRoomServer } from "../src/index.ts";
import { settle } from "./helpers.ts";
import { docker, IMAGES, labelled, manifest, serviceToken, startServicesServer, waitUntil } from "./services-env.ts";

type Env = Awaited<ReturnType<typeof startServicesServer>>;

async function states(client: any): Promise<any[]> {
  return (await client.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states;
}

function envOf(containerId: string): string[] {
  return JSON.parse(docker("inspect", containerId))[0].Config.Env as string[];
}

function jwtPayload(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

test("issue 12 #12: a second server on the same data directory is refused (naming pid and port) before it touches the running one", async (t) => {
  const env = await startServicesServer();
  t.after(() => env.close());
  await env.addService("lock-room", manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  const alice = await env.ts.client("lock-room", "alice");
  const running = await waitUntil("web running", async () => (await states(alice)).find((s) => s.state === "running"));
  const session = env.ts.server.rooms.get("lock-room")!.session!.id;

  const second = await createDockerRuntime({ ownerId: env.ownerId, logger: pino({ level: "silent" }) });
  try {
    await assert.rejects(
      startRoomServer({ dataDir: env.ts.dataDir, port: 0, host: "127.0.0.1", logger: pino({ level: "silent" }), runtime: second, secret: env.ts.secret }),
      (err: Error) => {
        assert.ok(err instanceof DataDirLockedError);
        assert.equal(err.message, `data directory ${env.ts.dataDir} is in use by another roomservice server (pid ${process.pid}, port ${env.ts.server.port}); stop it first or use another --data directory`);
        return true;
      },
    );
  } finally {
    await second.close();
  }
  // Nothing of the running server was touched: its container runs, its session is open.
  assert.ok(labelled(env.ownerId, "lock-room").includes(running.container_id));
  assert.equal((await env.ts.server.ctx.sessions.get(session))?.endedAt, null);
  assert.equal((await states(alice)).find((s) => s.service_id === running.service_id)?.state, "running");
});

test("issue 12 #14: restarting a service whose spec cannot be built marks it failed with the reason (not pending forever)", async (t) => {
  const env = await startServicesServer();
  t.after(() => env.close());
  const id = await env.addService("fail-room", manifest("needs-secret", IMAGES.http, {
    container: { image: IMAGES.http, environment: [{ name: "KEY", secret: { id: "missing-secret" } }] },
  }));
  // services.restart needs the admin grant (admin.config).
  const alice = await env.ts.client("fail-room", "alice", { api: { ...defaultApiScope("user"), admin: {} } });
  await waitUntil("failed at start", async () => (await states(alice)).find((s) => s.service_id === id)?.state === "failed");
  await assert.rejects(alice.invoke({ toolkit: "services", tool: "restart", input: { service_id: id } }), /missing-secret/);
  const st = (await states(alice)).find((s) => s.service_id === id);
  assert.equal(st.state, "failed");
  assert.match(st.last_start_error, /secret "missing-secret" \(for KEY\) does not exist/);
});

test("issue 12 #15: a service token has no expiry of its own, is bound to its session, and is refused once the session ended", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 200 });
  t.after(() => env.close());
  await env.addService("tok-room", manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  const alice = await env.ts.client("tok-room", "alice");
  const web = await waitUntil("web running", async () => (await states(alice)).find((s) => s.state === "running"));
  const session = env.ts.server.rooms.get("tok-room")!.session!.id;
  const token = await serviceToken(web.container_id);
  assert.ok(!envOf(web.container_id).some((e) => e.startsWith("MESHAGENT_TOKEN=") || e.includes(token)), "the token is not in docker inspect");
  const payload = jwtPayload(token);
  assert.equal(payload.exp, undefined, "no 24 h expiry: valid for the whole session");
  assert.deepEqual(payload.roomservice, { kind: "service", session_id: session, service_id: web.service_id });

  // An admin-capable service token works during its session and not after it.
  const adminToken = await mintParticipantToken(env.ts.secret, {
    room: "tok-room", identity: "svc", role: "agent", api: { admin: {} } as never, projectId: "default", service: { sessionId: session, serviceId: web.service_id },
  });
  const list = () => fetch(`${env.ts.url}/accounts/projects/default/services`, { headers: { authorization: `Bearer ${adminToken}` } });
  assert.equal((await list()).status, 200);
  const ended = new Promise<void>((r) => env.ts.server.rooms.events.on("event", (e) => e.type === "session.ended" && r()));
  await settle(alice);
  alice.dispose();
  await ended;
  const after = await list();
  assert.equal(after.status, 401);
  assert.match(((await after.json()) as any).error, /which has ended/);
});

test("issue 12 #16: creating a service on a port another service of the room declares answers a warning naming it", async (t) => {
  const env = await startServicesServer();
  t.after(() => env.close());
  const key = (await env.ts.server.apiKeys.create("default", "ops", Date.now())).key;
  const post = (path: string, body: unknown) =>
    fetch(`${env.ts.url}/accounts/projects/default${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const first = await post("/rooms/port-room/services", manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http" }] }));
  assert.deepEqual(((await first.json()) as any).warnings, []);
  const second = await post("/rooms/port-room/services", manifest("api", IMAGES.http, { ports: [{ num: 9000, type: "tcp" }, { num: 8080, type: "http" }] }));
  assert.equal(second.status, 201);
  assert.deepEqual(((await second.json()) as any).warnings, [{
    path: "ports[1].num",
    message: 'port 8080 is also declared by service "web" (room "port-room"); services of a room share 127.0.0.1, so only one of them can listen on it and the other will crash-loop',
  }]);
  // Another room is another 127.0.0.1: no warning.
  assert.deepEqual(((await (await post("/rooms/other-room/services", manifest("web2", IMAGES.http, { ports: [{ num: 8080, type: "http" }] }))).json()) as any).warnings, []);
  // Renaming a service is not a conflict with its own old name (it is recognised by id).
  const { id } = (await (await post("/rooms/solo-room/services", manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http" }] }))).json()) as any;
  const renamed = await fetch(`${env.ts.url}/accounts/projects/default/rooms/solo-room/services/${id}`, {
    method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(manifest("web-renamed", IMAGES.http, { ports: [{ num: 8080, type: "http" }] })),
  });
  assert.equal(renamed.status, 200);
  assert.deepEqual(((await renamed.json()) as any).warnings, []);
});

test("issue 12 #22: a room's pause container removed from outside: the sandbox is rebuilt and the services run again, with the reason in the developer log", async (t) => {
  const env = await startServicesServer({ poolSize: 0 });
  t.after(() => env.close());
  await env.addService("lost-room", manifest("web", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  const alice = await env.ts.client("lost-room", "alice");
  const before = await waitUntil("web running", async () => (await states(alice)).find((s) => s.state === "running"));
  const netnsBefore = env.ts.server.launcher.netnsPath("lost-room");
  const pause = docker("ps", "-q", "--no-trunc", "--filter", `label=dev.roomservice.owner=${env.ownerId}`, "--filter", "label=dev.roomservice.role=pause").trim();
  assert.ok(pause.length > 0);
  docker("rm", "-f", pause);
  const after = await waitUntil("web running again in a new container", async () =>
    (await states(alice)).find((s) => s.state === "running" && s.container_id !== before.container_id), 60_000);
  assert.notEqual(env.ts.server.launcher.netnsPath("lost-room"), netnsBefore);
  assert.ok(labelled(env.ownerId, "lost-room").includes(after.container_id));
  // The new namespace serves the Room API to the service, as the old one did.
  const { execNode } = await import("./services-env.ts");
  const viaApi = await execNode(after.container_id, "fetch('http://127.0.0.1:8078/healthz').then(r=>r.text()).then(console.log)");
  assert.match(viaApi.out, /"ok":true/, viaApi.err);
  assert.ok(env.logs.some((l) => l.includes("room sandbox rebuilt") && /was (removed|stopped) from outside Roomservice/.test(l)), "the reason is logged");
});

test("issue 12 #25: template none injects no MESHAGENT_* variables", async (t) => {
  const env = await startServicesServer();
  t.after(() => env.close().catch(() => {}));
  await env.addService("plain-room", manifest("plain", IMAGES.http, { container: { image: IMAGES.http, template: "none", environment: [{ name: "PORT", value: "8080" }] } }));
  const alice = await env.ts.client("plain-room", "alice");
  const st = await waitUntil("running", async () => (await states(alice)).find((s) => s.state === "running"));
  const vars = envOf(st.container_id).map((e) => e.split("=")[0]);
  assert.deepEqual(vars.filter((v) => v.startsWith("MESHAGENT_")), []);
  assert.ok(vars.includes("PORT"));
  // A clean shutdown leaves no empty per-installation directory under the secrets root.
  assert.ok(existsSync(join(defaultSecretsRoot(), env.ownerId)), "the installation's secrets directory exists while a session runs");
  await env.close();
  assert.ok(!existsSync(join(defaultSecretsRoot(), env.ownerId)), "no empty per-installation directory after a clean shutdown");
});

test("issue 12 #25: a session that ends before its sandbox is ready starts no service", async (t) => {
  const ownerId = `test-${Math.random().toString(16).slice(2, 10)}`;
  const real = await createDockerRuntime({ ownerId, logger: pino({ level: "silent" }) });
  // The sandbox is held back until the session has ended.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let created: RoomSandbox | null = null;
  let started = 0;
  const runtime: Runtime = {
    kind: real.kind,
    reapOrphans: (o) => real.reapOrphans(o),
    async createRoomSandbox(o) {
      await gate;
      const sb = await real.createRoomSandbox(o);
      // Counts service starts on the real sandbox.
      created = new Proxy(sb, {
        get(target, p) {
          if (p === "startService") return (spec: Parameters<RoomSandbox["startService"]>[0]) => (started++, target.startService(spec));
          const v = Reflect.get(target, p);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
      return created;
    },
    openRoomApi: (s, onSocket) => real.openRoomApi(s, onSocket),
    close: () => real.close(),
  };
  const { startTestServer } = await import("./helpers.ts");
  const ts = await startTestServer({ runtime, departureTimeoutMs: 0 });
  let closed = false;
  t.after(async () => {
    if (!closed) await ts.close();
    await real.reapOrphans(ownerId);
  });
  await ts.server.services.create("default", "early", "web", manifest("web", IMAGES.http), Date.now());
  const ended = new Promise<void>((r) => ts.server.rooms.events.on("event", (e) => e.type === "session.ended" && r()));
  const stopped = new Promise<void>((r) => ts.server.launcher.stopped.once("stopped", () => r()));
  const alice = await ts.client("early", "alice");
  await settle(alice);
  alice.dispose();
  await ended;
  release();
  await stopped;
  assert.ok(created !== null, "the sandbox was created after the session ended");
  assert.equal(started, 0, "no service was started for the ended session");
  assert.deepEqual(labelled(ownerId), [], "and nothing is left");
  closed = true;
  await ts.close();
});
