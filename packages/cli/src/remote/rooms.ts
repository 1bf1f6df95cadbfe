import { CliError } from "../options.ts";
import type { ApiClient } from "./client.ts";
import { roomPath } from "./options.ts";
import type { RoomLive, ServiceState } from "./types.ts";

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
