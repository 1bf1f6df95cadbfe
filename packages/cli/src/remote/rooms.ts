import { CliError } from "../options.ts";
import type { ApiClient } from "./client.ts";
import { roomPath } from "./options.ts";
import type { RoomJson, RoomLive, ServiceState } from "./types.ts";

/** GET .../rooms/{room}/live: the room's session and its services' runtime state. */
export async function roomLive(c: ApiClient, room: string): Promise<RoomLive> {
  return c.request<RoomLive>("GET", `${await c.projectBase()}${roomPath(room)}/live`);
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
