import type { Transaction } from "kysely";
import type { Database, Store } from "./db.ts";
import type { SessionEndReason } from "./sessions.ts";

/** The `reason` of the timeline event that closes every session (the live room's and the store's). */
export const SESSION_ENDED_REASON = "SessionEnded";

/**
 * How a session no live room holds any more is ended in the store: when, why (`reason`, kept
 * as the session's `end_reason`), and the rest of the event's message after the reason
 * (`detail`, e.g. "node a1b2 stopped without closing it").
 */
export interface StoredSessionEnding {
  /** ms since epoch (the ending node's clock). */
  at: number;
  reason: SessionEndReason;
  detail: string;
}

/**
 * Ends stored sessions that no live Room will end — a crashed server's at its next start, a
 * dead or fenced cluster node's when another node takes the room or finds the node dead.
 * The one place that does it: for each id still open, in one transaction, what a live room's
 * end records too — `ended_at`/`end_reason` on the session row, a `SessionEnded` timeline event
 * after the session's last one (kind `session`, message `Session ended (<reason>: <detail>)`),
 * and every participant still in marked left at `at`.
 *
 * First ending wins: a session already ended (its row has `ended_at`) is left as it is, so a
 * node that ends its own copy later (a stalled owner that runs again and finds its lease gone)
 * cannot overwrite it, and the event is never written twice (`insertSessionEnded`). Returns
 * how many sessions this call ended.
 */
export async function endStoredSessions(store: Store, ids: readonly string[], ending: StoredSessionEnding): Promise<number> {
  if (ids.length === 0) return 0;
  return await store.db.transaction().execute(async (trx) => {
    let ended = 0;
    for (const id of ids) {
      const r = await trx.updateTable("sessions").set({ ended_at: ending.at, end_reason: ending.reason })
        .where("id", "=", id).where("ended_at", "is", null).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) continue;
      ended++;
      const last = await trx.selectFrom("session_events").select((eb) => eb.fn.max("seq").as("seq")).where("session_id", "=", id).executeTakeFirst();
      await insertSessionEnded(trx, {
        session_id: id, seq: Number(last?.seq ?? 0) + 1, at: ending.at,
        message: `Session ended (${ending.reason}: ${ending.detail})`,
      });
      await trx.updateTable("session_participants").set({ left_at: ending.at }).where("session_id", "=", id).where("left_at", "is", null).execute();
    }
    return ended;
  });
}

/**
 * Writes a session's `SessionEnded` event unless it has one already: at most one per session,
 * whoever ends it (the live room's activity stream, or endStoredSessions for a session a dead
 * or fenced node left open — both may end the same session when an owner stalls past its lease).
 */
export async function insertSessionEnded(trx: Transaction<Database>, e: { session_id: string; seq: number; at: number; message: string }): Promise<void> {
  const existing = await trx.selectFrom("session_events").select("seq")
    .where("session_id", "=", e.session_id).where("kind", "=", "session").where("reason", "=", SESSION_ENDED_REASON)
    .executeTakeFirst();
  if (existing !== undefined) return;
  await trx.insertInto("session_events").values({
    session_id: e.session_id, seq: e.seq, at: e.at, kind: "session", type: "Normal", reason: SESSION_ENDED_REASON,
    message: e.message, service_id: null, service_name: null, participant: null,
  }).onConflict((oc) => oc.columns(["session_id", "seq"]).doNothing()).execute();
}
