import type { ServiceEvent } from "@roomservice/runtime";
import type { Logger } from "pino";
import type { RoomManager } from "../rooms/room-manager.ts";

/** Events kept per service by a component beside the runtime, at most this many per service. */
export const MAX_SIDE_EVENTS = 50;

/**
 * Records an event about a service that a component beside the runtime observed (the MCP
 * bridge's connects, the agent webhook's calls): merged into `events` the way the runtime
 * merges its own (the same type, reason and message bump `count` and `last_timestamp`, as
 * Kubernetes events do), at most MAX_SIDE_EVENTS per service (oldest dropped), logged, and
 * published to the room's developer log as `service.event`. `now`: ms since epoch.
 */
export function recordSideEvent(
  d: { events: Map<string, ServiceEvent[]>; log: Logger; rooms: RoomManager; room: string; now: number },
  svc: { serviceId: string; name: string },
  type: "Normal" | "Warning",
  reason: ServiceEvent["reason"],
  message: string,
): void {
  let list = d.events.get(svc.serviceId);
  if (list === undefined) d.events.set(svc.serviceId, (list = []));
  const same = list.find((x) => x.type === type && x.reason === reason && x.message === message);
  if (same !== undefined) {
    same.count++;
    same.last_timestamp = d.now;
  } else {
    list.push({ type, reason, message, count: 1, first_timestamp: d.now, last_timestamp: d.now });
    if (list.length > MAX_SIDE_EVENTS) list.splice(0, list.length - MAX_SIDE_EVENTS);
  }
  (type === "Warning" ? d.log.warn.bind(d.log) : d.log.info.bind(d.log))({ room: d.room, service: svc.name, reason }, message);
  d.rooms.get(d.room)?.logs.publish({ type: "service.event", data: { service_id: svc.serviceId, service: svc.name, type, reason, message, timestamp: d.now } });
}
