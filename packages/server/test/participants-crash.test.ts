/**
 * The session history under a kill: a real `roomservice serve` is SIGKILLed in the middle of a
 * burst of joins and leaves (one crowded room, many rooms of one), then started again on the
 * same data directory. The history writer commits in batches (store/history-writer.ts); what
 * it must guarantee is that the store holds a prefix of the writes in order — nobody in a
 * session's participant list without a participant record, no record or event without its
 * session, every join both a record and a ParticipantJoined event or neither — and that the
 * next start ends every open session (server_restart) with everyone marked left.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { mintParticipantToken } from "../src/index.ts";
import { spawnServer, waitExit } from "./process.ts";
import { connectRaw, type RawClient } from "./raw-client.ts";
import { startTestServer } from "./helpers.ts";

const SECRET = "participants-crash-secret-0123456789";
const CROWD = 150;
const SOLO = 60;
const IN_FLIGHT = 25;
/** The kill comes once this many clients were admitted (the rest are still arriving or leaving). */
const KILL_AFTER = 90;

test("SIGKILL during a burst of joins and leaves leaves a consistent session history, ended at the next start", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-participants-crash-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const first = await spawnServer(dataDir, { MESHAGENT_SECRET: SECRET });
  t.after(() => first.child.kill("SIGKILL"));
  const wsUrl = first.url.replace(/^http/, "ws");

  const jobs = [
    ...Array.from({ length: CROWD }, (_, i) => ({ room: "crowd", identity: `c${i}` })),
    ...Array.from({ length: SOLO }, (_, i) => ({ room: `solo-${i}`, identity: `s${i}` })),
  ].sort((a, b) => (a.identity < b.identity ? -1 : 1)); // crowd and solo joins interleaved
  const tokens = await Promise.all(jobs.map((j) => mintParticipantToken(SECRET, { ...j, role: "user", ttlSeconds: 600 })));

  let admitted = 0;
  let killed = false;
  const clients: RawClient[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < jobs.length && !killed) {
      const i = next++;
      try {
        const c = await connectRaw(wsUrl, jobs[i]!.room, tokens[i]!);
        clients.push(c);
        await c.waitType("connected", 10_000);
        admitted++;
        // Every third participant leaves again at once: leaves are in flight at the kill too.
        if (i % 3 === 0) void c.close();
        if (admitted === KILL_AFTER && !killed) {
          killed = true;
          first.child.kill("SIGKILL");
        }
      } catch {
        // refused or cut by the kill: expected for the ones in flight
      }
    }
  }));
  for (const c of clients) c.ws.terminate();
  await waitExit(first.child);
  assert.ok(killed, `the server was killed mid-burst (admitted ${admitted})`);

  // Next start on the same directory closes what the kill left open.
  const second = await startTestServer({ dataDir, secret: SECRET, runtime: null });
  t.after(() => second.close());

  const db = new DatabaseSync(join(dataDir, "roomservice.db"), { readOnly: true });
  t.after(() => db.close());
  const sessions = db.prepare("SELECT id, room, ended_at, end_reason, participants FROM sessions").all() as { id: string; room: string; ended_at: number | null; end_reason: string | null; participants: string }[];
  const rows = db.prepare("SELECT session_id, participant_id, name, left_at FROM session_participants").all() as { session_id: string; participant_id: string; name: string; left_at: number | null }[];
  const events = db.prepare("SELECT session_id, seq, reason, participant FROM session_events ORDER BY session_id, seq").all() as { session_id: string; seq: number; reason: string; participant: string | null }[];

  const ids = new Set(sessions.map((s) => s.id));
  assert.ok(rows.length > 0 && sessions.some((s) => s.room === "crowd"), `joins before the kill were recorded (${rows.length} participant records)`);
  for (const s of sessions) {
    assert.equal(s.end_reason, "server_restart", `session ${s.id} (${s.room}) ended at the next start`);
    assert.notEqual(s.ended_at, null);
  }
  for (const r of rows) {
    assert.ok(ids.has(r.session_id), `participant ${r.name}'s record has its session`);
    assert.notEqual(r.left_at, null, `participant ${r.name} is marked left`);
  }
  for (const e of events) assert.ok(ids.has(e.session_id), `event ${e.reason} has its session`);

  for (const s of sessions) {
    const mine = rows.filter((r) => r.session_id === s.id);
    const recorded = new Set(mine.map((r) => r.participant_id));
    const joinedEvents = new Set(events.filter((e) => e.session_id === s.id && e.reason === "ParticipantJoined").map((e) => (JSON.parse(e.participant!) as { id: string }).id));
    assert.deepEqual([...joinedEvents].sort(), [...recorded].sort(), `session ${s.id}: every join is both a record and an event, or neither`);
    const names = new Set(mine.map((r) => r.name));
    for (const identity of JSON.parse(s.participants) as string[]) {
      assert.ok(names.has(identity), `session ${s.id}: ${identity} is in the session's participant list, so it has a participant record`);
    }
    const timeline = events.filter((e) => e.session_id === s.id);
    assert.equal(timeline.at(-1)?.reason, "SessionEnded", `session ${s.id}'s timeline ends with SessionEnded`);
  }

  // The REST API tells the same story.
  const key = (await second.server.apiKeys.create("default", "k", Date.now())).key;
  const crowd = sessions.find((s) => s.room === "crowd")!;
  const res = await fetch(`${second.url}/accounts/projects/default/sessions/${crowd.id}`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { ended_at: string | null; participants_detail: { id: string; left_at: string | null }[] };
  assert.notEqual(body.ended_at, null);
  assert.deepEqual(body.participants_detail.map((p) => p.id).sort(), rows.filter((r) => r.session_id === crowd.id).map((r) => r.participant_id).sort());
  assert.ok(body.participants_detail.every((p) => p.left_at !== null));
});
