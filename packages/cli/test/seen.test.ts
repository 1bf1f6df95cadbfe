/**
 * `room logs -f` / `room events -f` drop what a reconnect replays twice, per session: a new
 * session whose seqs start lower than the last session's (its room moved to a node whose
 * counter is behind, or the clock stepped back across a restart) is still printed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeenPerSession } from "../src/remote/seen.ts";

test("replayed lines are dropped; a new session starting at lower seqs is printed", () => {
  const seen = new SeenPerSession();
  const kept = [
    { session_id: "a", seq: 500 }, { session_id: "a", seq: 501 },
    { session_id: "a", seq: 501 }, { session_id: "a", seq: 500 }, // a reconnect's replay
    { session_id: "a", seq: 502 },
    { session_id: "b", seq: 100 }, { session_id: "b", seq: 101 }, // the next session, lower seqs
    { session_id: "b", seq: 101 },
  ].filter((x) => seen.isNew(x));
  assert.deepEqual(kept.map((x) => `${x.session_id}${x.seq}`), ["a500", "a501", "a502", "b100", "b101"]);
});
