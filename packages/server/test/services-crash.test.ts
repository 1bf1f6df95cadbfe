import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDockerRuntime, defaultSecretsRoot, safeName } from "@roomservice/runtime";
import { pino } from "pino";
import { sdk, settle } from "./helpers.ts";
import { spawnServer, waitExit } from "./process.ts";
import { Store, ServiceStore, SecretStore, mintParticipantToken } from "../src/index.ts";
import { buildExampleImages, IMAGES, manifest, labelled, docker, waitUntil } from "./services-env.ts";

const SECRET = "crash-services-secret-0123456789";

test("SIGKILL the server mid-session: the next start leaves no container, network or secret file of the old run within 5 s, and storage is intact", async (t) => {
  const quiet = pino({ level: "silent" });
  const builder = await createDockerRuntime({ ownerId: "image-builder", logger: quiet });
  await buildExampleImages(builder);
  await builder.close();

  const dataDir = await mkdtemp(join(tmpdir(), "rs-svc-crash-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  // Configure a service with a secret file straight in the store, as `roomservice service create` does.
  const store = Store.openSqlite(join(dataDir, "roomservice.db"));
  await new SecretStore(store, SECRET).set("default", null, "api-key", "opaque", Buffer.from("value-in-a-secret-file"), Date.now());
  await new ServiceStore(store).create("default", "crash-room", "reader", manifest("reader", IMAGES.secret, {
    container: { image: IMAGES.secret, environment: [{ name: "API_KEY", secret: { id: "api-key" } }] },
    ports: [{ num: 8081, type: "http", liveness: "/" }],
  }), Date.now());
  await store.close();

  const env = { MESHAGENT_SECRET: SECRET, ROOMSERVICE_RUNTIME: "docker" };
  const first = await spawnServer(dataDir, env);
  const ownerId = (await readFile(join(dataDir, "owner-id"), "utf8")).trim();
  let second: Awaited<ReturnType<typeof spawnServer>> | null = null;
  // One clean-up, in order: stop whatever server still runs, then reap what it left (its
  // pooled namespaces included) — reaping first would race a live server refilling its pool.
  t.after(async () => {
    for (const c of [first.child, second?.child]) {
      if (c === undefined) continue;
      c.kill("SIGKILL");
      await waitExit(c);
    }
    const rt = await createDockerRuntime({ ownerId, logger: quiet });
    await rt.reapOrphans(ownerId);
    await rt.close();
  });

  const token = await mintParticipantToken(SECRET, { room: "crash-room", identity: "alice", role: "user", ttlSeconds: 600 });
  const connect = async (url: string) => {
    const c = new sdk.RoomClient({ protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${url.replace(/^http/, "ws")}/rooms/crash-room`, token }), reconnectTimeout: 0 });
    await c.start();
    return c;
  };
  const alice = await connect(first.url);
  await alice.storage.upload("notes/keep.md", Buffer.from("# survives the crash"));
  await waitUntil("reader running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st[0]?.state === "running";
  });
  const secretsDir = join(defaultSecretsRoot(), safeName(ownerId));
  const oldRun = labelled(ownerId);
  assert.ok(oldRun.length >= 2, "pause + service containers (and pooled namespaces) run");
  assert.ok(existsSync(secretsDir) && (await readdir(secretsDir)).length > 0, "secret files exist");

  first.child.kill("SIGKILL");
  await waitExit(first.child);
  await settle(alice, 200);
  try {
    alice.dispose();
  } catch {
    // the connection is already gone
  }
  assert.ok(labelled(ownerId).length >= 2, "a killed server leaves its containers running (that is the point of reaping)");

  second = await spawnServer(dataDir, env);
  const restartedAt = Date.now();
  // The new run makes its own pooled namespaces at once; none of the old run's may remain.
  await waitUntil("old containers reaped", () => labelled(ownerId).every((id) => !oldRun.includes(id)), 5000);
  await waitUntil("old secret files removed", async () => !existsSync(secretsDir) || (await readdir(secretsDir)).length === 0, 5000);
  assert.equal(docker("network", "ls", "-q", "--filter", `label=dev.roomservice.owner=${ownerId}`).trim(), "");
  t.diagnostic(`leftovers gone ${Date.now() - restartedAt} ms after the restart`);

  const again = await connect(second!.url);
  t.after(async () => {
    await settle(again);
    again.dispose();
  });
  assert.equal(Buffer.from((await again.storage.download("notes/keep.md")).data).toString(), "# survives the crash");
  // The new session starts the service afresh.
  await waitUntil("reader running again", async () => {
    const st = (await again.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st[0]?.state === "running";
  });
});
