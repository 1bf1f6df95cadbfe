import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { createDockerRuntime } from "@roomservice/runtime";
import { mintParticipantToken } from "../src/index.ts";
import { eventually } from "./helpers.ts";
import { startTestCluster, type ClusterNodeProc } from "./cluster-helpers.ts";
import { buildExampleImages, docker, IMAGES, labelled, manifest } from "./services-env.ts";

// Issue 11 acceptance 2 (a room service runs once, on the owner) and 3 (SIGKILL the owner of a
// busy room): three real `serve --cluster` processes with the Docker runtime, one PostgreSQL,
// one shared storage directory. Bounds are waited for with generous timeouts, never asserted.
// The killed node's leases are aged in the database (`ageNode`) instead of waited out, so the
// live nodes keep a long lease TTL that no stall of a loaded machine can run out.

test("a room's service runs once, on the owner; SIGKILL of the owner: clients reconnect, the room resumes elsewhere, nothing stored is lost, the new owner removes the dead node's containers from the shared daemon", { timeout: 600_000 }, async (t) => {
  // Build the example images once (a throwaway runtime only for its Docker client).
  const builder = await createDockerRuntime({ ownerId: `test-build-${randomBytes(3).toString("hex")}`, logger: pino({ level: "silent" }), poolSize: 0 });
  await buildExampleImages(builder);
  await builder.close();

  const cl = await startTestCluster({ nodes: 3, env: { ROOMSERVICE_RUNTIME: "docker", ROOMSERVICE_ROOM_POOL: "0" } });
  t.after(async () => {
    await cl.close();
    // Whatever a failed run left: every container of these three node ids (a stopping node
    // may be removing some itself: that is fine).
    for (const n of cl.nodes) {
      for (const id of labelled(n.nodeId)) {
        try {
          docker("rm", "-f", id);
        } catch {
          // already gone or being removed
        }
      }
    }
  });
  const [n1, n2, n3] = cl.nodes as [ClusterNodeProc, ClusterNodeProc, ClusterNodeProc];
  const admin = await mintParticipantToken(cl.secret, { room: "admin", identity: "admin", role: "user", ttlSeconds: 3600, api: { admin: {} } as never });
  const rest = async (node: ClusterNodeProc, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${node.url}/accounts/projects/default${path}`, {
      method, headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text === "" ? null : JSON.parse(text) };
  };

  // Configuration written through node2 is the cluster's (one PostgreSQL).
  const created = await rest(n2, "POST", "/services", manifest("echo", IMAGES.http, {
    container: { image: IMAGES.http, environment: [{ name: "PORT", value: "8080" }] },
    ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
  }));
  assert.equal(created.status, 201, JSON.stringify(created.body));

  // The room starts on node1 (first connection there); alice and bob join through node2 and node3.
  const first = await cl.client(n1, "busy", "first");
  const alice = await cl.client(n2, "busy", "alice", { reconnect: true });
  const bob = await cl.client(n3, "busy", "bob", { reconnect: true });
  const session1 = first.sessionId as string;
  assert.equal(alice.sessionId, session1);
  assert.equal(bob.sessionId, session1);
  assert.equal((await cl.owners()).get("busy"), n1.nodeId);

  // The service runs once, on the owner: containers of room "busy" exist only under node1's label.
  await eventually(async () => {
    const r = await rest(n3, "GET", "/rooms/busy/live"); // forwarded to node1: the live room is there
    return r.status === 200 && JSON.stringify(r.body).includes('"ready"');
  }, 120_000, "the echo service ready (seen through node3)");
  assert.ok(labelled(n1.nodeId, "busy").length >= 1, "the owner runs the room's containers");
  assert.deepEqual(labelled(n2.nodeId, "busy"), [], "node2 runs nothing for the room");
  assert.deepEqual(labelled(n3.nodeId, "busy"), [], "node3 runs nothing for the room");
  const node1Containers = labelled(n1.nodeId, "busy");

  // Store something, then kill the owner without warning.
  await alice.storage.upload("kept/report.txt", new TextEncoder().encode("written before the crash"));
  first.dispose();
  await n1.kill("SIGKILL");
  await cl.ageNode(n1.nodeId);

  // Clients reconnect through their nodes; once node1's lease lapses one of the others starts a
  // new session, and both land in it.
  await eventually(() => alice.sessionId !== session1 && bob.sessionId !== session1 && alice.sessionId === bob.sessionId && alice.sessionId !== null,
    120_000, "alice and bob in one new session");
  const newOwner = (await cl.owners()).get("busy");
  assert.ok(newOwner === n2.nodeId || newOwner === n3.nodeId, `the room moved to a live node (owner ${newOwner})`);
  const survivor = newOwner === n2.nodeId ? n2 : n3;
  await eventually(async () => {
    const r = await rest(survivor === n2 ? n3 : n2, "GET", "/rooms/busy/live"); // through the other live node
    return r.status === 200 && JSON.stringify(r.body).includes('"ready"') && labelled(survivor.nodeId, "busy").length >= 2;
  }, 120_000, "the service ready again, on the new owner");

  // Nothing stored is lost: the file and the configuration.
  const data = (await alice.storage.download("kept/report.txt")).data;
  assert.equal(new TextDecoder().decode(data), "written before the crash");
  const services = await rest(n3, "GET", "/services");
  assert.deepEqual(services.body.services.map((s: { metadata: { name: string } }) => s.metadata.name), ["echo"]);
  // The dead node's session was closed when the room moved.
  const sessions = await rest(n2, "GET", "/rooms/busy/sessions");
  const old = sessions.body.sessions.find((s: { id: string }) => s.id === session1);
  assert.ok(old?.ended_at, "node1's session is recorded as ended");

  // node1's containers outlived it (children of containerd-shim) and kept the room's storage
  // mounted. The nodes share this machine's Docker daemon, so the node that took the room
  // removed them before serving it (gap 4) — while node1 is still dead.
  assert.ok(node1Containers.length > 0);
  for (const id of node1Containers) assert.ok(!labelled(n1.nodeId).includes(id), `node1's container ${id.slice(0, 12)} was removed at takeover`);
  // The room's containers went before it was served; node1's others (its pooled namespaces)
  // go in the sweep the takeover woke, right after.
  await eventually(() => labelled(n1.nodeId).length === 0, 60_000, "nothing of the dead node left on the shared daemon");
  // The new owner removes them at takeover, unless another live node's periodic sweep of dead
  // nodes got there first: either way a live node did it, and says so.
  assert.match(n2.output() + n3.output(), /removed the (leftovers of a dead node|room's containers left by)/, "a live node removed them and logged it");
  // node1 restarts (reaping its own leftovers at start: none are left) and touches nothing of the new owner's.
  const survivorContainers = labelled(survivor.nodeId, "busy");
  await n1.restart();
  await eventually(async () => (await fetch(`${n1.url}/healthz`)).ok, 60_000, "node1 back");
  const after = labelled(survivor.nodeId, "busy");
  for (const id of survivorContainers) assert.ok(after.includes(id), `the new owner's container ${id.slice(0, 12)} was not touched`);

  // A message still goes through the resumed room.
  alice.messaging.enable();
  bob.messaging.enable();
  await eventually(() => Boolean(alice.messaging.getParticipantByName("bob")), 30_000, "alice sees bob in the resumed session");
});
