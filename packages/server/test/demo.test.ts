/**
 * The demo project end to end: `roomservice serve` (the real CLI, Docker runtime) sets up room
 * `demo` with the example services; an SDK participant joins and the chat agent and crm-sync
 * answer in thread documents; a restart duplicates nothing and keeps the operator's edits and
 * deletions; `--no-demo` / ROOMSERVICE_DEMO=0 turn it off. A second test watches an image being
 * built on first use: the service waits (Building), its log shows the build, then it starts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createDockerRuntime, type DockerEngine } from "@roomservice/runtime";
import { sdk, collectMessages, eventually, settle, startTestServer } from "./helpers.ts";
import { spawnServer, waitExit } from "./process.ts";
import { buildExampleImages, docker, manifest, waitUntil, labelled } from "./services-env.ts";
import { loadProjectSecret, mintParticipantToken, ExampleImages, REPO_ROOT as REPO, setUpDemo, demoManifest, DEMO_STATE, InstallationState, type ImagePreparer } from "../src/index.ts";
import { THREAD_SCHEMA_PATH } from "../src/toolkits/sync/index.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

// The SDK prints every document change with console.log (agent-kit's filter, as the example agents use it).
quietDocumentChangeLog();

const DEMO_SERVICES = ["chat-agent", "crm-standin", "crm-sync", "mcp-tools", "pipeline"];

function messagesOf(doc: any): any[] {
  return doc.root.getChildren().find((c: any) => c.tagName === "messages")?.getChildren() ?? [];
}

/** Joins room `demo` of a spawned server as `identity`, with a token signed by its data directory's secret. */
async function joinDemo(url: string, dataDir: string, identity: string): Promise<any> {
  const jwt = await mintParticipantToken(loadProjectSecret(dataDir), { room: "demo", identity, role: "user", ttlSeconds: 3600 });
  const client = new sdk.RoomClient({
    protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${url.replace(/^http/, "ws")}/rooms/demo`, token: jwt }),
    reconnectTimeout: 0,
  });
  await client.start();
  client.messaging.enable();
  return client;
}

/**
 * What Studio's chat does: a thread with `agent` as a member, a message, a `chat` notice to
 * the agent. Resolves with the agent's finished reply, read from the document through the SDK.
 */
async function askInThread(client: any, agentName: string, text: string, expected: RegExp): Promise<string> {
  const agent = await waitUntil(`${agentName} in the room`, () => client.messaging.remoteParticipants.find((p: any) => p.getAttribute("name") === agentName), 120_000);
  await eventually(() => client.storage.exists(THREAD_SCHEMA_PATH), 10_000, "the seeded thread schema");
  const path = `.threads/${agentName}-${client.localParticipant.getAttribute("name")}.thread`;
  const doc = await client.sync.open(path);
  const members = doc.root.getChildren().find((c: any) => c.tagName === "members");
  members.createChildElement("member", { name: client.localParticipant.getAttribute("name") });
  members.createChildElement("member", { name: agentName });
  doc.root.getChildren().find((c: any) => c.tagName === "messages")
    .createChildElement("message", { id: randomBytes(8).toString("hex"), text, created_at: new Date().toISOString(), author_name: client.localParticipant.getAttribute("name"), author_ref: null });
  await client.messaging.sendMessage({ to: agent, type: "chat", message: { path, text, attachments: [] } });
  const reply = await waitUntil(`${agentName}'s answer in ${path}`, () => {
    const m = messagesOf(doc).find((x) => x.getAttribute("author_name") === agentName);
    return m !== undefined && expected.test(m.getAttribute("text")) ? m.getAttribute("text") : null;
  }, 60_000);
  await client.sync.close(path);
  return reply;
}

/** GET/PUT/DELETE on the spawned server's REST API with the `local-cli` key `serve` wrote. */
async function rest(url: string, dataDir: string, method: string, path: string, body?: unknown): Promise<any> {
  const access = JSON.parse(await readFile(join(dataDir, "cli-access.json"), "utf8")) as { api_key: string };
  const res = await fetch(`${url}/accounts/projects/default/${path}`, {
    method, headers: { authorization: `Bearer ${access.api_key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: HTTP ${res.status} ${text}`);
  return text === "" ? null : JSON.parse(text);
}

const demoServices = async (url: string, dataDir: string): Promise<any[]> => (await rest(url, dataDir, "GET", "rooms/demo/services")).services;

test("serve sets up room demo: the chat agent and crm-sync answer in threads; a restart duplicates nothing and keeps edits; --no-demo turns it off", { timeout: 600_000 }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-demo-"));
  const env = { ROOMSERVICE_RUNTIME: "docker", ROOMSERVICE_ROOM_POOL: "0", ROOMSERVICE_LOG_LEVEL: "info" };
  t.after(async () => {
    // Whatever a failed run left: the owner id is this data directory's.
    const ownerId = (await readFile(join(dataDir, "owner-id"), "utf8").catch(() => "")).trim();
    if (ownerId !== "") {
      const runtime = await createDockerRuntime({ ownerId, logger: pino({ level: "silent" }), poolSize: 0 });
      await runtime.reapOrphans(ownerId);
      await runtime.close();
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  const first = await spawnServer(dataDir, env);
  t.after(() => first.child.kill("SIGKILL"));
  await eventually(() => /room demo: open /.test(first.stdout()), 20_000, "serve's demo line");
  const line = /room demo: open (\S+) and press Join room.*\n/.exec(first.stdout());
  assert.ok(line !== null, first.stdout());
  assert.match(line[1]!, new RegExp(`^${first.url}/rooms/demo\\?login=[\\w-]+$`), "a one-click Studio link to the room");
  for (const name of DEMO_SERVICES) assert.ok(line[0].includes(name), `the line names ${name}: ${line[0]}`);
  const services = await demoServices(first.url, dataDir);
  assert.deepEqual(services.map((s) => s.metadata.name).sort(), DEMO_SERVICES);
  assert.ok(services.every((s) => s.container.image === `roomservice-demo/${s.metadata.name}:latest`), JSON.stringify(services.map((s) => s.container.image)));

  // A participant joins: the services start (their images built or tagged on first use) and answer.
  const alice = await joinDemo(first.url, dataDir, "alice");
  t.after(() => alice.dispose());
  assert.equal(await askInThread(alice, "chat-agent", "hello demo", /^you said: hello demo$/), "you said: hello demo");
  // Studio's chat panel today: a plain messaging chat to everyone; the chat agent answers it.
  const box = collectMessages(alice);
  await alice.messaging.broadcastMessage({ type: "chat", message: { text: "hi everyone" } });
  await waitUntil("chat-agent's plain answer", () => box.messages.find((m) => m.type === "chat" && m.message?.text === "you said: hi everyone"), 30_000);
  assert.match(await askInThread(alice, "crm-sync", "look up ACME", /ACME/), /^ACME Corporation \(manufacturing\) — owner Dana Whitfield/);
  // mcp-tools is bridged into the room as the data-tools toolkit.
  await waitUntil("the data-tools toolkit", async () => (await alice.listToolkits()).some((tk: any) => tk.name === "data-tools"), 60_000);
  const states = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
  assert.equal(states.length, DEMO_SERVICES.length);

  // The operator edits one demo service and deletes another; then the server restarts.
  const chat = services.find((s) => s.metadata.name === "chat-agent");
  const { id: _id, revision: _r, room: _room, created_at: _c, updated_at: _u, ...spec } = chat;
  const edited = { ...spec, container: { ...chat.container, environment: [{ name: "WORD_DELAY_MS", value: "1" }] } };
  await rest(first.url, dataDir, "PUT", `rooms/demo/services/${chat.id}`, edited);
  await rest(first.url, dataDir, "DELETE", `rooms/demo/services/${services.find((s) => s.metadata.name === "pipeline").id}`);
  await settle(alice);
  alice.dispose();
  first.child.kill("SIGTERM");
  await waitExit(first.child);
  assert.equal(first.child.exitCode, 0, first.output());

  const second = await spawnServer(dataDir, env);
  t.after(() => second.child.kill("SIGKILL"));
  await eventually(() => /room demo: open /.test(second.stdout()), 20_000, "serve's demo line after the restart");
  const after = await demoServices(second.url, dataDir);
  assert.deepEqual(after.map((s) => s.metadata.name).sort(), DEMO_SERVICES.filter((n) => n !== "pipeline"), "nothing duplicated, the deleted service not recreated");
  assert.deepEqual(after.find((s) => s.metadata.name === "chat-agent").container.environment, [{ name: "WORD_DELAY_MS", value: "1" }], "the edit was kept");
  assert.equal(after.find((s) => s.metadata.name === "chat-agent").id, chat.id);
  // The crm secret was made once (a room secret), not again.
  assert.deepEqual((await rest(second.url, dataDir, "GET", "rooms/demo/secrets")).secrets.map((s: any) => s.name), ["crm-api-key"]);
  const bob = await joinDemo(second.url, dataDir, "bob");
  assert.equal(await askInThread(bob, "chat-agent", "again", /^you said: again$/), "you said: again");
  await settle(bob);
  bob.dispose();
  second.child.kill("SIGTERM");
  await waitExit(second.child);

  // Turned off: a fresh data directory with --no-demo (or ROOMSERVICE_DEMO=0) gets no demo room.
  const offs: { args: string[]; env: Record<string, string> }[] = [{ args: ["--no-demo"], env: {} }, { args: [], env: { ROOMSERVICE_DEMO: "0" } }];
  for (const off of offs) {
    const bare = await mkdtemp(join(tmpdir(), "rs-nodemo-"));
    const third = await spawnServer(bare, { ...env, ...off.env }, off.args);
    try {
      assert.deepEqual(await demoServices(third.url, bare), []);
      assert.doesNotMatch(third.stdout(), /room demo/);
    } finally {
      third.child.kill("SIGTERM");
      await waitExit(third.child);
      await rm(bare, { recursive: true, force: true });
    }
  }
});

test("an image the server builds on first use: the service waits (Building), the build's output is in its log, then it starts; a failed build is a FailedStart; a session ending mid-build stops at once", { timeout: 300_000 }, async (t) => {
  const id = randomBytes(4).toString("hex");
  const ownerId = `test-${id}`;
  const runtime = await createDockerRuntime({ ownerId, logger: pino({ level: "silent" }), poolSize: 0 });
  await buildExampleImages(runtime); // the base image
  const engine = (runtime as unknown as { docker: DockerEngine }).docker;
  // Repositories of this test only, so the build really happens (and is removed afterwards).
  const images = new ExampleImages({ docker: engine, logger: pino({ level: "silent" }), examples: ["http-echo", "tcp-echo", "no-such-example"], repo: `rs-demo-test-${id}`, buildRepo: `rs-demo-test-${id}-build` });
  // The build is real; the test holds its end until it has looked at the waiting service
  // (otherwise "pending while building" would only be visible for as long as a build takes).
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let releaseTcp!: () => void;
  const heldTcp = new Promise<void>((r) => (releaseTcp = r));
  const gated: ImagePreparer = {
    prepare: (image, onProgress) => images.prepare(image, onProgress)?.then(() => (image.includes("/tcp-echo:") ? heldTcp : held)) ?? null,
  };
  const ts = await startTestServer({ runtime, images: gated, departureTimeoutMs: 300 });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans(ownerId);
    for (const line of docker("images", "--format", "{{.Repository}}:{{.Tag}}").split("\n")) if (line.startsWith(`rs-demo-test-${id}`)) docker("rmi", line);
  });
  const echoId = (await ts.server.services.create("default", "r", "echo", manifest("echo", images.tagFor("http-echo")), Date.now())).id;
  const brokenId = (await ts.server.services.create("default", "r", "broken", manifest("broken", images.tagFor("no-such-example")), Date.now())).id;

  const alice = await ts.client("r", "alice");
  const sessionId = alice.sessionId as string;
  const stateOf = async (sid: string) => ((await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[]).find((s) => s.service_id === sid);
  const key = (await ts.server.apiKeys.create("default", "t", Date.now())).key;
  // While the image builds (and is held): pending with a Building event — in services.list
  // (the SDK), in the live state Studio reads, and in `roomservice room services`.
  const waiting = await waitUntil("echo waiting for its image", async () => { const s = await stateOf(echoId); return s?.events.some((e: any) => e.reason === "Building") ? s : null; }, 120_000);
  assert.equal(waiting.state, "pending");
  await eventually(async () => (await readFile(ts.server.launcher.sessionLogFile("r", sessionId, echoId), "utf8").catch(() => "")).includes("Step 1/"), 120_000, "the build's steps in the service's log");
  const live = (await (await fetch(`${ts.url}/accounts/projects/default/rooms/r/live`, { headers: { authorization: `Bearer ${key}` } })).json()) as { services: any[] };
  const echoLive = live.services.find((s) => s.service_id === echoId);
  assert.equal(echoLive.state, "pending");
  assert.match(echoLive.events.at(-1).message, /^building image rs-demo-test-\w+\/http-echo:latest/);
  // Async: the server under test lives in this process and must keep answering.
  const cli = await promisify(execFile)(process.execPath, [join(REPO, "packages/cli/src/main.ts"), "room", "services", "r", "--url", ts.url, "--api-key", key], { encoding: "utf8" });
  assert.match(cli.stdout, /echo: building image rs-demo-test-\w+\/http-echo:latest .* — follow it: roomservice room logs r echo -f/);
  release();
  await waitUntil("echo running", async () => (await stateOf(echoId))?.state === "running", 120_000);
  const broken = await waitUntil("broken failed", async () => { const s = await stateOf(brokenId); return s?.state === "failed" ? s : null; }, 30_000);
  assert.match(broken.last_start_error, /^could not build image rs-demo-test-\w+\/no-such-example:latest: /);

  // The session's timeline: Building, then Built, then the container's own events.
  const timeline = ((await (await fetch(`${ts.url}/accounts/projects/default/sessions/${sessionId}/events`, { headers: { authorization: `Bearer ${key}` } })).json()) as { events: any[] }).events;
  const echoReasons = timeline.filter((e) => e.service_id === echoId).map((e) => e.reason);
  assert.deepEqual(echoReasons.slice(0, 4), ["Building", "Built", "Created", "Started"], JSON.stringify(echoReasons));
  assert.match(timeline.find((e) => e.service_id === echoId && e.reason === "Building").message, /^building image rs-demo-test-\w+\/http-echo:latest/);
  assert.ok(timeline.some((e) => e.service_id === brokenId && e.reason === "FailedStart"));
  assert.notEqual(docker("image", "inspect", "--format", "{{.Id}}", images.tagFor("http-echo")).trim(), "", "the stable tag exists now");

  await settle(alice);
  alice.dispose();
  await waitUntil("the room's containers removed", () => labelled(ownerId, "r").length === 0, 60_000);

  // A session that ends while a service waits for its image stops at once (its namespace
  // goes); the build goes on for the next session.
  const tcpId = (await ts.server.services.create("default", "r2", "tcp", manifest("tcp", images.tagFor("tcp-echo")), Date.now())).id;
  const carol = await ts.client("r2", "carol");
  const carolSession = carol.sessionId as string;
  await waitUntil("tcp waiting for its image", async () => {
    const s = ((await carol.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[]).find((x) => x.service_id === tcpId);
    return s?.events.some((e: any) => e.reason === "Building");
  }, 120_000);
  await settle(carol);
  carol.dispose();
  await waitUntil("r2's session over while the build is held", () => ts.server.rooms.get("r2") === undefined, 30_000);
  await waitUntil("r2's containers removed while the build is held", () => labelled(ownerId, "r2").length === 0, 60_000);
  const r2 = ((await (await fetch(`${ts.url}/accounts/projects/default/sessions/${carolSession}/events`, { headers: { authorization: `Bearer ${key}` } })).json()) as { events: any[] }).events;
  const ended = r2.find((e) => e.service_id === tcpId && e.reason === "FailedStart");
  assert.equal(ended?.message, "the room's session ended while the service's image was being built");
  releaseTcp();
  // Let that build finish before the images of this test are removed.
  await images.prepare(images.tagFor("tcp-echo"), () => undefined);
});

test("setUpDemo: voice is opt-in and can be added later; nothing else is created twice; a damaged marker duplicates nothing", async (t) => {
  const ts = await startTestServer({});
  t.after(() => ts.close());
  const deps = {
    dataDir: ts.dataDir, store: ts.server.ctx.store, projectId: "default", services: ts.server.services, secrets: ts.server.secrets,
    logger: pino({ level: "silent" }), imageFor: (e: string) => `roomservice-demo/${e}:latest`, root: REPO,
  };
  const first = await setUpDemo(deps);
  assert.deepEqual(first.created, ["chat-agent", "mcp-tools", "pipeline", "crm-standin", "crm-sync"]);
  const withVoice = await setUpDemo({ ...deps, voice: true });
  assert.deepEqual([withVoice.created, withVoice.kept.length], [["voice"], 5]);
  const voice = (await ts.server.services.findByName("default", "demo", "voice"))!;
  assert.equal((voice.spec.container as { image: string }).image, "roomservice-demo/voice:latest");
  // The stand-in CRM expects the SHA-256 of the room secret the demo made.
  const key = (await ts.server.secrets.resolveValue("default", "demo", "crm-api-key"))!;
  const standin = (await ts.server.services.findByName("default", "demo", "crm-standin"))!;
  const env = (standin.spec.container as { environment: { name: string; value: string }[] }).environment;
  assert.equal(env.find((e) => e.name === "CRM_KEY_SHA256")!.value, createHash("sha256").update(key).digest("hex"));
  await new InstallationState(ts.server.ctx.store).put(DEMO_STATE, "{not json", Date.now());
  const again = await setUpDemo({ ...deps, voice: true });
  assert.deepEqual([again.created, again.kept.length], [[], 6]);
  assert.equal((await ts.server.services.forRoom("default", "demo")).length, 6);
});

test("voice in the demo (opt-in): its image is built on first use FROM the Debian base, and it speaks a thread message", { timeout: 900_000 }, async (t) => {
  const id = randomBytes(4).toString("hex");
  const ownerId = `test-${id}`;
  const runtime = await createDockerRuntime({ ownerId, logger: pino({ level: "silent" }), poolSize: 0 });
  await buildExampleImages(runtime);
  const engine = (runtime as unknown as { docker: DockerEngine }).docker;
  const images = new ExampleImages({ docker: engine, logger: pino({ level: "silent" }), examples: ["voice"], repo: `rs-demo-test-${id}`, buildRepo: `rs-demo-test-${id}-build` });
  const ts = await startTestServer({ runtime, images, departureTimeoutMs: 300 });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans(ownerId);
    for (const line of docker("images", "--format", "{{.Repository}}:{{.Tag}}").split("\n")) if (line.startsWith(`rs-demo-test-${id}`)) docker("rmi", line);
  });
  const voiceId = (await ts.server.services.create("default", "demo", "voice", demoManifest(REPO, "voice", images.tagFor("voice"), null), Date.now())).id;
  const alice = await ts.client("demo", "alice");
  alice.messaging.enable();
  const state = await waitUntil("voice running or failed", async () => {
    const s = ((await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[]).find((x) => x.service_id === voiceId);
    return s?.state === "running" || s?.state === "failed" ? s : null;
  }, 840_000);
  if (state.state === "failed" && /mirror|unreachable/.test(state.last_start_error)) {
    t.skip(`the Debian base image cannot be built here: ${state.last_start_error}`);
    return;
  }
  assert.equal(state.state, "running", state.last_start_error);
  const log = await readFile(ts.server.launcher.sessionLogFile("demo", alice.sessionId, voiceId), "utf8");
  assert.match(log, /FROM roomservice\/debian-voice:bookworm/, "the image was built on first use, its steps in the service's log");
  const reply = await askInThread(alice, "voice", "hello demo", /^🔊 hello demo$/);
  assert.equal(reply, "🔊 hello demo");
  await settle(alice);
  alice.dispose();
  await waitUntil("the room's containers removed", () => labelled(ownerId, "demo").length === 0, 60_000);
});
