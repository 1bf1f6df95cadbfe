/**
 * Two services of one room cannot listen on the same port: they share the room's 127.0.0.1,
 * so the second crash-loops while the port answers for the first (issue 12 #16). Caught when
 * a service is created or updated, as warnings naming the other service; at run time the
 * runtime's Exited/BackOff events say the port was taken.
 */
import type { ServiceRecord, ServiceStore } from "./service-store.ts";

export interface PortWarning {
  /** Manifest path, e.g. "ports[0].num". */
  path: string;
  message: string;
}

function portsOf(spec: Record<string, unknown>): number[] {
  const ports = (spec as { ports?: unknown }).ports;
  if (!Array.isArray(ports)) return [];
  return ports.map((p) => (p as { num?: unknown }).num).filter((n): n is number => typeof n === "number");
}

/**
 * Ports of `spec` that another enabled service running in the same room declares. A room
 * service is checked against the room's services and the project's; a project service
 * against every service of the project (it runs in every room). `selfId`: the service being
 * updated (left out of its own neighbours).
 */
export async function portConflictWarnings(store: ServiceStore, project: string, room: string | null, name: string, spec: Record<string, unknown>, selfId?: string): Promise<PortWarning[]> {
  const neighbours: ServiceRecord[] = room === null
    ? [...await store.list(project, null), ...await store.allRooms(project)]
    : await store.forRoom(project, room);
  const out: PortWarning[] = [];
  portsOf(spec).forEach((port, i) => {
    for (const other of neighbours) {
      // Itself: by id on an update (a rename must not warn about its old name), by name otherwise.
      if (selfId !== undefined ? other.id === selfId : other.name === name && other.room === room) continue;
      if (other.spec.enabled === false || !portsOf(other.spec).includes(port)) continue;
      const where = other.room === null ? "a project service, runs in every room" : `room ${JSON.stringify(other.room)}`;
      out.push({
        path: `ports[${i}].num`,
        message: `port ${port} is also declared by service ${JSON.stringify(other.name)} (${where}); services of a room share 127.0.0.1, so only one of them can listen on it and the other will crash-loop`,
      });
    }
  });
  return out;
}
