import { CliError } from "../options.ts";
import { isMissingRoute, type ApiClient } from "./client.ts";
import { roomPath } from "./options.ts";
import type { RoomJson, RoomLive, ServiceState } from "./types.ts";

/**
 * The one error for a room the server has never seen (it answers 404 on the room's own
 * routes), so `room services|sessions|logs|events|restart` all say the same.
 */
export function unknownRoomError(c: ApiClient, room: string): CliError {
  return new CliError(`no room ${JSON.stringify(room)} on the server at ${c.target.url}: it has no sessions, services, secrets or settings (see "roomservice room list"; a room starts when a participant connects)`);
}

/** Whether a failed request's answer is the server's "no such room" (not a missing route). */
export function isUnknownRoom(status: number, text: string): boolean {
  if (status !== 404 || isMissingRoute(text)) return false;
  try {
    return (JSON.parse(text) as { code?: unknown }).code === "room_not_found";
  } catch {
    return false;
  }
}

/**
 * GET .../rooms/{room}/live: the room's session and its services' runtime state. A room the
 * server has never seen is an error, unless `idleIfUnknown` (following a room's next session:
 * connecting will create it), which answers it as an idle room with no services.
 */
export async function roomLive(c: ApiClient, room: string, o: { idleIfUnknown?: boolean } = {}): Promise<RoomLive> {
  const path = `${await c.projectBase()}${roomPath(room)}/live`;
  const res = await c.fetch("GET", path, {});
  const text = await res.text();
  if (res.ok) return JSON.parse(text) as RoomLive;
  if (isUnknownRoom(res.status, text)) {
    if (o.idleIfUnknown) return { room, session: null, services: [] };
    throw unknownRoomError(c, room);
  }
  throw c.httpError("GET", path, res.status, text);
}

/** Finds a service of a live room by name or id; the error lists the names there are. */
export function findLiveService(live: RoomLive, ref: string): ServiceState {
  const s = live.services.find((x) => x.name === ref) ?? live.services.find((x) => x.service_id === ref);
  if (s !== undefined) return s;
  const names = live.services.map((x) => x.name);
  throw new CliError(`room ${live.room} has no service ${JSON.stringify(ref)}; ${names.length === 0 ? "it has no services" : `its services: ${names.join(", ")}`}`);
}

/** Every room the server knows (`GET .../rooms`, paged 1000 at a time: the route's maximum). */
export async function listRooms(c: ApiClient): Promise<RoomJson[]> {
  const out: RoomJson[] = [];
  for (;;) {
    const { rooms } = await c.request<{ rooms: RoomJson[] }>("GET", `${await c.projectBase()}/rooms?limit=1000&offset=${out.length}`);
    out.push(...rooms);
    if (rooms.length < 1000) return out;
  }
}
