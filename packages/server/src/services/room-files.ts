/**
 * MeshAgent's top-level `files:` — "a file created in room storage if it does not exist yet" —
 * made when a room's session starts, before its services launch, and when a service is
 * (re)started during a session with a version that declares files.
 *
 * Through RoomStorage, the one safe API for room files: a file is never overwritten (the
 * no-overwrite upload links the file into place, and link(2) refuses an existing name
 * atomically), and no symlink a service planted is followed (a path through one is refused
 * and nothing is created). Services are taken in a fixed order — by name, then id — and the
 * first to declare a path wins; a later one declaring that path with other text changes
 * nothing and is reported (server log, the room's developer log). A created file is announced
 * to participants like an upload (`storage.file.updated`, `participant_id: null`).
 */
import type { Logger } from "pino";
import { normalizeManifest, validateManifestObject } from "@roomservice/manifest";
import type { RoomManager } from "../rooms/room-manager.ts";
import { RoomStorage } from "../storage/room-storage.ts";
import { ToolError } from "../toolkits/types.ts";
import type { ServiceRecord, ServiceStore } from "./service-store.ts";

/** What happened to one declared room file. */
export type RoomFileOutcome =
  | { path: string; service: string; kind: "created" }
  /** Already there (a file, a folder or a link of that name): left alone. */
  | { path: string; service: string; kind: "exists" }
  /** An earlier service (in the fixed order) declared this path with other text. */
  | { path: string; service: string; kind: "conflict"; winner: string }
  | { path: string; service: string; kind: "failed"; message: string };

/**
 * Creates the missing room files `records` declare, in the order described in the module
 * comment; one outcome per declared file (a repeat of the same text by a later service is
 * no outcome). Never throws for a file: failures are outcomes.
 */
export async function ensureRoomFiles(storage: RoomStorage, records: readonly ServiceRecord[]): Promise<RoomFileOutcome[]> {
  const sorted = [...records].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  const declared = new Map<string, { service: string; text: string }>();
  const out: RoomFileOutcome[] = [];
  for (const rec of sorted) {
    const v = validateManifestObject(rec.spec);
    if (!v.ok) continue; // its launch fails, saying why
    for (const f of normalizeManifest(v.manifest).roomFiles) {
      const first = declared.get(f.path);
      if (first !== undefined) {
        if (first.text !== f.text) out.push({ path: f.path, service: rec.name, kind: "conflict", winner: first.service });
        continue;
      }
      declared.set(f.path, { service: rec.name, text: f.text });
      try {
        await storage.writeFile(f.path, Buffer.from(f.text, "utf8"), { overwrite: false });
        out.push({ path: f.path, service: rec.name, kind: "created" });
      } catch (err) {
        if (err instanceof ToolError && err.code === 409) out.push({ path: f.path, service: rec.name, kind: "exists" });
        else out.push({ path: f.path, service: rec.name, kind: "failed", message: (err as Error).message });
      }
    }
  }
  return out;
}

/**
 * ensureRoomFiles on `room`'s storage (the live room's instance, with its cluster fence),
 * then announces what it created and reports conflicts and failures.
 */
export async function createRoomFiles(d: { rooms: RoomManager; log: Logger }, room: string, records: readonly ServiceRecord[]): Promise<RoomFileOutcome[]> {
  const live = d.rooms.get(room);
  const outcomes = await ensureRoomFiles(live?.storage ?? new RoomStorage(d.rooms.roomDir(room)), records);
  for (const o of outcomes) {
    if (o.kind === "created") {
      live?.broadcastEvent("storage.file.updated", { path: o.path, participant_id: null });
      continue;
    }
    if (o.kind === "exists") continue;
    const message = o.kind === "conflict"
      ? `room file ${JSON.stringify(o.path)} of service ${o.service} was not used: service ${o.winner} (first by name) declares the same path with other text`
      : `room file ${JSON.stringify(o.path)} of service ${o.service} could not be created: ${o.message}`;
    d.log.warn({ room, service: o.service, path: o.path, outcome: o.kind }, message);
    live?.logs.publish({ type: "services.room_file", data: { service: o.service, path: o.path, outcome: o.kind, message } });
  }
  return outcomes;
}

/** `files[].path` and text of a stored manifest as given (it may be invalid: then nothing). */
function roomFilesOf(spec: Record<string, unknown>): Array<{ path: string; text: string }> {
  const v = validateManifestObject(spec);
  return v.ok ? normalizeManifest(v.manifest).roomFiles : [];
}

/**
 * Create/update-time warnings (like port-conflicts.ts): room files of `spec` that another
 * enabled service running in the same room declares with other text — only the first by
 * name creates it. A room service is checked against the room's and the project's services;
 * a project service against every service of the project. `selfId`: the service being
 * updated (left out of its own neighbours).
 */
export async function roomFileConflictWarnings(store: ServiceStore, project: string, room: string | null, name: string, spec: Record<string, unknown>, selfId?: string): Promise<Array<{ path: string; message: string }>> {
  const mine = roomFilesOf(spec);
  if (mine.length === 0) return [];
  const neighbours: ServiceRecord[] = room === null
    ? [...await store.list(project, null), ...await store.allRooms(project)]
    : await store.forRoom(project, room);
  const out: Array<{ path: string; message: string }> = [];
  mine.forEach((f, i) => {
    for (const other of neighbours) {
      // Itself: by id on an update (as port-conflicts.ts), by name otherwise.
      if (selfId !== undefined ? other.id === selfId : other.name === name && other.room === room) continue;
      if (other.spec.enabled === false) continue;
      const theirs = roomFilesOf(other.spec).find((x) => x.path === f.path);
      if (theirs === undefined || theirs.text === f.text) continue;
      const winner = [name, other.name].sort((a, b) => a.localeCompare(b))[0];
      out.push({
        path: `files[${i}].path`,
        message: `room file ${JSON.stringify(f.path)} is also declared, with other text, by service ${JSON.stringify(other.name)}${other.room === null ? " (a project service)" : ""}; only the first by name (${winner}) creates it, and an existing file is never overwritten`,
      });
    }
  });
  return out;
}
