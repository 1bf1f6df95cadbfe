import { randomUUID } from "node:crypto";
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import type { Store } from "../store/db.ts";

/**
 * Prefix of a room directory being deleted (`<rooms>/.deleting-<uuid>`). Room names start
 * with a letter or digit (ROOM_NAME_PATTERN), so no room can be called this.
 */
export const DELETING_PREFIX = ".deleting-";

/** What deleting one room removed: rows per table, and whether it had a directory. */
export interface RoomDeleteReport {
  rows: Record<string, number>;
  directory: boolean;
}

/**
 * Removes everything Roomservice keeps for one room: its record (metadata), its room
 * services with their versions, its room secrets, its settings, its session history (events,
 * participants, stats samples), its LLM usage, its queues, and its directory (storage files,
 * sync documents, kept service logs). Project services and secrets are not the room's and
 * stay. Everything goes because a room's name can be used again: anything left would
 * reappear in the next room of that name (and keep it listed, since a room is known by
 * anything that refers to it — store/rooms.ts).
 *
 * Crash safety: the directory is first renamed to a `.deleting-<uuid>` tombstone (atomic),
 * then the rows go in one transaction; if the transaction fails the directory is renamed
 * back, and a tombstone a crash left is removed at the next start
 * ({@link removeDeletedRoomDirs}). The caller makes sure no session is live and none can
 * start meanwhile (RoomManager.deleting).
 */
export async function deleteRoomData(d: { store: Store; roomsDir: string; queues: DatabaseSync | null }, room: string): Promise<RoomDeleteReport> {
  await d.store.settled(); // queued session-event writes land before their rows are deleted
  const dir = join(d.roomsDir, room);
  const tomb = join(d.roomsDir, `${DELETING_PREFIX}${randomUUID()}`);
  let directory = true;
  try {
    await rename(dir, tomb);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    directory = false;
  }
  const rows: Record<string, number> = {};
  const count = (table: string, r: { numDeletedRows: bigint }[]) => {
    rows[table] = r.reduce((n, x) => n + Number(x.numDeletedRows), 0);
  };
  try {
    await d.store.db.transaction().execute(async (trx) => {
      const sessionIds = trx.selectFrom("sessions").select("id").where("room", "=", room);
      const serviceIds = trx.selectFrom("services").select("id").where("room", "=", room);
      count("session_events", await trx.deleteFrom("session_events").where("session_id", "in", sessionIds).execute());
      count("session_participants", await trx.deleteFrom("session_participants").where("session_id", "in", sessionIds).execute());
      count("session_stats", await trx.deleteFrom("session_stats").where("session_id", "in", sessionIds).execute());
      count("sessions", await trx.deleteFrom("sessions").where("room", "=", room).execute());
      count("service_versions", await trx.deleteFrom("service_versions").where("service_id", "in", serviceIds).execute());
      count("service_sources", await trx.deleteFrom("service_sources").where("service_id", "in", serviceIds).execute());
      count("services", await trx.deleteFrom("services").where("room", "=", room).execute());
      count("secrets", await trx.deleteFrom("secrets").where("room", "=", room).execute());
      count("room_settings", await trx.deleteFrom("room_settings").where("room", "=", room).execute());
      count("llm_usage", await trx.deleteFrom("llm_usage").where("room", "=", room).execute());
      count("rooms", await trx.deleteFrom("rooms").where("name", "=", room).execute());
    });
  } catch (err) {
    if (directory) await rename(tomb, dir).catch(() => {});
    throw err;
  }
  if (d.queues !== null) {
    // The queue tables live in their own SQLite handle (queue-db.ts); messages cascade.
    d.queues.prepare("DELETE FROM queue_messages WHERE room = ?").run(room);
    rows.queues = Number(d.queues.prepare("DELETE FROM queues WHERE room = ?").run(room).changes);
  }
  if (directory) await rm(tomb, { recursive: true, force: true });
  return { rows, directory };
}

/** Start-up: removes room directories a crash left mid-delete (see {@link deleteRoomData}). */
export async function removeDeletedRoomDirs(roomsDir: string): Promise<number> {
  const names = (await readdir(roomsDir).catch(() => [] as string[])).filter((n) => n.startsWith(DELETING_PREFIX));
  await Promise.all(names.map((n) => rm(join(roomsDir, n), { recursive: true, force: true })));
  return names.length;
}
