import { test } from "node:test";
import assert from "node:assert/strict";
import { mintParticipantToken } from "../src/index.ts";
import { eventually } from "./helpers.ts";
import { startTestCluster, type ClusterNodeProc } from "./cluster-helpers.ts";

// A session its node cannot end (the node was killed, or stalled past its lease) is ended by
// another node the way a single server ends a killed session at its next start
// (store/session-end.ts): the row's end and reason, one SessionEnded event closing the
// timeline, every participant marked left — seen through the REST API of any node. Two real
// `serve --cluster` processes on one PostgreSQL (no container runtime: nothing to wait for but
// the sessions). Nothing waits out a lease: the stalled or killed node's rows are aged in the
// database, and the live nodes keep a long TTL.

interface Ev { reason: string; message: string; kind: string }
interface Detail { end_reason: string | null; ended_at: string | null; participants_detail: { name: string; left_at: string | null }[] }

test("a stalled or killed node's sessions end with the SessionEnded event, the right reason and their participants left: at takeover, at the dead-node sweep, at a node's start; the stalled node's own ending later changes nothing", { timeout: 240_000 }, async (t) => {
  const cl = await startTestCluster({ nodes: 2 });
  // SIGCONT first: a stopped node would never act on the SIGTERM that closing sends.
  t.after(async () => {
    cl.nodes[0]!.child.kill("SIGCONT");
    await cl.close();
  });
  const [n1, n2] = cl.nodes as [ClusterNodeProc, ClusterNodeProc];
  const admin = await mintParticipantToken(cl.secret, { room: "admin", identity: "admin", role: "user", ttlSeconds: 3600, api: { admin: {} } as never });
  const get = async <T>(node: ClusterNodeProc, path: string): Promise<T> => {
    const r = await fetch(`${node.url}/accounts/projects/default${path}`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(r.status, 200, `GET ${path} through ${node.name}`);
    return (await r.json()) as T;
  };
  const events = async (node: ClusterNodeProc, sid: string) => (await get<{ events: Ev[] }>(node, `/sessions/${sid}/events`)).events;
  const ended = (evs: Ev[]) => evs.filter((e) => e.kind === "session" && e.reason === "SessionEnded");
  /** Waits until `name` is recorded in the session, as node2 reads the database (node1 writes in batches). */
  const joined = (sid: string, name: string) => eventually(async () => {
    const r = await fetch(`${n2.url}/accounts/projects/default/sessions/${sid}`, { headers: { authorization: `Bearer ${admin}` } });
    return r.status === 200 && ((await r.json()) as Detail).participants_detail.some((p) => p.name === name && p.left_at === null);
  }, 20_000, `${name}'s join recorded`);

  // ---- A stalled owner: node1 holds "stalled", freezes, and its lease of the room lapses. ----
  const dave = await cl.client(n1, "stalled", "dave");
  const stalled = dave.sessionId as string;
  await joined(stalled, "dave");
  n1.child.kill("SIGSTOP");
  await cl.db.query("UPDATE room_leases SET expires_at = now() - interval '1 second' WHERE room = 'stalled'");
  const erin = await cl.client(n2, "stalled", "erin");
  assert.notEqual(erin.sessionId, stalled, "a new session on node2");
  // node1's heartbeat is fresh: it is alive but lost the lease, so its session ended with lease_lost.
  let d = await get<Detail>(n2, `/sessions/${stalled}`);
  assert.equal(d.end_reason, "lease_lost");
  assert.ok(d.ended_at !== null);
  assert.deepEqual(d.participants_detail.map((p) => [p.name, p.left_at !== null]), [["dave", true]], "dave marked left");
  let evs = ended(await events(n2, stalled));
  assert.equal(evs.length, 1);
  assert.equal(evs[0]!.message, `Session ended (lease_lost: node ${n1.nodeId} lost the room's lease; node ${n2.nodeId} took it)`);
  // node1 runs again, finds the lease gone and ends its copy (lease_lost): first ending wins,
  // one SessionEnded event. Read through node1, which writes what it queued before answering.
  n1.child.kill("SIGCONT");
  await eventually(() => /room lease lost/.test(n1.output()), 60_000, "node1 noticed the lost lease");
  evs = ended(await events(n1, stalled));
  assert.equal(evs.length, 1, `one SessionEnded event: ${JSON.stringify(evs)}`);
  assert.equal(evs[0]!.message, `Session ended (lease_lost: node ${n1.nodeId} lost the room's lease; node ${n2.nodeId} took it)`, "node2's ending is kept");
  d = await get<Detail>(n1, `/sessions/${stalled}`);
  assert.equal(d.end_reason, "lease_lost");

  // ---- A killed owner: node1 holds "moved" and "abandoned", and is killed. ----
  const alice = await cl.client(n1, "moved", "alice");
  const bob = await cl.client(n1, "abandoned", "bob");
  const moved = alice.sessionId as string;
  const abandoned = bob.sessionId as string;
  await joined(moved, "alice");
  await joined(abandoned, "bob");
  await n1.kill("SIGKILL");
  await cl.ageNode(n1.nodeId);

  // Takeover: a connection to "moved" through node2 takes the room and ends the dead node's session first.
  const carol = await cl.client(n2, "moved", "carol");
  assert.notEqual(carol.sessionId, moved);
  d = await get<Detail>(n2, `/sessions/${moved}`);
  assert.equal(d.end_reason, "server_restart");
  assert.deepEqual(d.participants_detail.map((p) => [p.name, p.left_at !== null]), [["alice", true]]);
  evs = await events(n2, moved);
  assert.equal(evs.at(-1)!.reason, "SessionEnded", "the event closes the timeline");
  assert.equal(ended(evs).length, 1);
  // node2 ended it at the takeover, unless its periodic sweep found node1 dead just before.
  assert.ok([
    `Session ended (server_restart: node ${n1.nodeId} stopped without closing it; node ${n2.nodeId} took the room)`,
    `Session ended (server_restart: node ${n1.nodeId} stopped without closing it (found dead by node ${n2.nodeId}))`,
  ].includes(evs.at(-1)!.message), evs.at(-1)!.message);

  // Nobody connects to "abandoned" again: node2's periodic sweep finds node1 dead and ends it.
  await eventually(async () => (await get<Detail>(n2, `/sessions/${abandoned}`)).ended_at !== null, 60_000, "the abandoned session ended by the sweep");
  d = await get<Detail>(n2, `/sessions/${abandoned}`);
  assert.equal(d.end_reason, "server_restart");
  assert.deepEqual(d.participants_detail.map((p) => [p.name, p.left_at !== null]), [["bob", true]]);
  evs = await events(n2, abandoned);
  assert.equal(ended(evs).length, 1);
  assert.equal(evs.at(-1)!.message, `Session ended (server_restart: node ${n1.nodeId} stopped without closing it (found dead by node ${n2.nodeId}))`);
  assert.match(n2.output(), /closed the sessions a dead node left open/);

  // ---- A node's start: an open session of a room no live lease covers (its node and lease
  // are gone without a trace: e.g. the database was restored) is ended by the next node to start. ----
  const T = Date.now() - 60_000;
  await cl.db.query("INSERT INTO sessions (id, room, started_at, participants) VALUES ('ghost-session', 'ghost', $1, '[\"gus\"]')", [T]);
  await cl.db.query("INSERT INTO session_participants (session_id, participant_id, name, role, joined_at) VALUES ('ghost-session', 'p-gus', 'gus', 'user', $1)", [T]);
  await cl.db.query("INSERT INTO session_events (session_id, seq, at, kind, type, reason, message) VALUES ('ghost-session', 7, $1, 'session', 'Normal', 'SessionStarted', 'Session started')", [T]);
  await n1.restart();
  d = await get<Detail>(n2, "/sessions/ghost-session");
  assert.equal(d.end_reason, "server_restart");
  assert.deepEqual(d.participants_detail.map((p) => [p.name, p.left_at !== null]), [["gus", true]]);
  evs = await events(n2, "ghost-session");
  assert.deepEqual(evs.map((e) => e.reason), ["SessionStarted", "SessionEnded"]);
  assert.equal(evs[1]!.message, `Session ended (server_restart: the node that ran it stopped without closing it (found by node ${n1.nodeId} at its start))`);
});
