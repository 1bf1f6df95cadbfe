import type { Command } from "commander";
import { CliError, parseIntOption } from "../options.ts";
import { age, table } from "../format.ts";
import { addRemoteOptions, checkRoom, connect, roomPath } from "../remote/options.ts";
import type { RemoteOpts } from "../remote/target.ts";
import { sessionRow, type ServiceState } from "../remote/types.ts";
import { findLiveService, isUnknownRoom, listRooms, roomLive, unknownRoomError } from "../remote/rooms.ts";
import { registerRoomWatch } from "./room-watch.ts";

function stateRow(s: ServiceState, now: number): string[] {
  const exit = s.last_exit === null ? "-" : s.last_exit.reason === "exit" ? `exit ${s.last_exit.code}` : s.last_exit.reason === "oom" ? "oom" : `signal${s.last_exit.code === null ? "" : ` (${s.last_exit.code})`}`;
  // A port's liveness means something only while the service runs: a stopped service (every
  // service of an idle room) shows its ports without a status rather than "not_ready".
  const running = s.state !== "stopped" && s.state !== "pending" && s.state !== "exited" && s.state !== "failed";
  const ports = s.ports.map((p) => `${p.num}/${p.type}${!running ? "" : `:${p.liveness_status === "not_configured" ? "-" : p.liveness_status}`}`).join(",") || "-";
  return [s.name, s.state, String(s.restart_count), exit, ports, s.started_at === null ? "-" : age(s.started_at, now), s.image];
}

export function registerRoom(program: Command): void {
  const room = program.command("room").description("rooms on the running server: live state, logs, events, settings and history");

  addRemoteOptions(room.command("list").description("rooms with their live session (id, uptime, participants, services' health)"))
    .option("--json", "print the server's JSON")
    .action(async (o: RemoteOpts & { json?: boolean }) => {
      const c = connect(o);
      const rooms = await listRooms(c);
      if (o.json) return void process.stdout.write(JSON.stringify(rooms, null, 2) + "\n");
      if (rooms.length === 0) return void process.stdout.write("no rooms\n");
      const now = Date.now();
      const rows = rooms.map((r) => (r.live ? [r.name, r.live.session_id, age(r.live.started_at, now), String(r.live.participants), r.live.health] : [r.name, "-", "-", "-", "idle"]));
      process.stdout.write(table(["ROOM", "SESSION", "UPTIME", "PARTICIPANTS", "SERVICES"], rows));
    });

  addRemoteOptions(room.command("services <room>").description("the room's services with their live state (pending … ready, backoff, exited, failed)"))
    .option("--json", "print the services as JSON (the server's ServiceState objects)")
    .action(async (name: string, o: RemoteOpts & { json?: boolean }) => {
      checkRoom(name);
      const live = await roomLive(connect(o), name);
      if (o.json) return void process.stdout.write(JSON.stringify(live.services, null, 2) + "\n");
      process.stdout.write(live.session === null ? `room ${name}: no session (services start when the first participant connects)\n` : `room ${name}: session ${live.session.id}, ${live.session.participants.length} participant(s)\n`);
      if (live.services.length === 0) return void process.stdout.write("no services\n");
      const now = Date.now();
      process.stdout.write(table(["SERVICE", "STATE", "RESTARTS", "LAST EXIT", "PORTS", "AGE", "IMAGE"], live.services.map((s) => stateRow(s, now))));
      for (const s of live.services) if (s.last_start_error) process.stdout.write(`${s.name}: ${s.last_start_error}\n`);
      // A service waiting for the server to build its image (the demo's, on first use).
      for (const s of live.services) {
        const last = s.events[s.events.length - 1];
        if (s.state === "pending" && last?.reason === "Building") process.stdout.write(`${s.name}: ${last.message} — follow it: roomservice room logs ${name} ${s.name} -f\n`);
      }
    });

  addRemoteOptions(room.command("restart <room> <service>").description("restart a service of the room's live session now, with its current manifest"))
    .action(async (name: string, ref: string, o: RemoteOpts) => {
      checkRoom(name);
      const c = connect(o);
      const live = await roomLive(c, name);
      const s = findLiveService(live, ref);
      if (live.session === null) throw new CliError(`room ${name} has no session, so nothing runs to restart; ${s.name} starts with the next session (when a participant connects)`);
      await c.request("POST", `${await c.projectBase()}${roomPath(name)}/services/${encodeURIComponent(s.service_id)}/restart`, {});
      process.stdout.write(`restarting ${s.name} in room ${name} (session ${live.session.id}); follow it with: roomservice room events ${name} -f\n`);
    });

  addRemoteOptions(room.command("sessions <room>").description("recent sessions of a room (id, start, end, reason, participants)"))
    .option("--json", "print JSON")
    .action(async (name: string, o: RemoteOpts & { json?: boolean }) => {
      checkRoom(name);
      const c = connect(o);
      const path = `${await c.projectBase()}${roomPath(name)}/sessions`;
      const res = await c.fetch("GET", path, {});
      const text = await res.text();
      if (isUnknownRoom(res.status, text)) throw unknownRoomError(c, name);
      if (!res.ok) throw c.httpError("GET", path, res.status, text);
      const rows = (JSON.parse(text) as { sessions: Record<string, unknown>[] }).sessions.map(sessionRow);
      if (o.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
      if (rows.length === 0) return void process.stdout.write(`room ${name}: no sessions yet\n`);
      process.stdout.write(table(["SESSION", "STARTED", "ENDED", "REASON", "PARTICIPANTS"], rows.map((r) => [r.id, r.started_at, r.ended_at ?? "(running)", r.end_reason ?? "-", r.participants.join(",") || "-"])));
    });

  addRemoteOptions(room.command("set-departure-timeout <room> <seconds>").description("how long the room's session outlives its last participant (\"default\" to clear); applies to the next departure"))
    .action(async (name: string, seconds: string, o: RemoteOpts) => {
      checkRoom(name);
      const s = seconds === "default" ? null : parseIntOption("<seconds>", seconds, 0, 86400);
      const c = connect(o);
      await c.request("PUT", `${await c.projectBase()}${roomPath(name)}/settings`, { departure_timeout_seconds: s });
      process.stdout.write(s === null ? `room ${name}: departure timeout back to the server default\n` : `room ${name}: departure timeout ${s} s\n`);
    });

  addRemoteOptions(room.command("end <room>").description("end the room's live session now: services stop, participants are disconnected"))
    .action(async (name: string, o: RemoteOpts) => {
      checkRoom(name);
      const c = connect(o);
      const live = await roomLive(c, name);
      if (live.session === null) throw new CliError(`room ${name} has no live session`);
      await c.request("POST", `${await c.projectBase()}/sessions/${encodeURIComponent(live.session.id)}/terminate`, {});
      process.stdout.write(`room ${name}: session ${live.session.id} ended\n`);
    });

  addRemoteOptions(room.command("delete <room>").description("delete a room and everything it has: services, secrets, settings, session history, files (not project services or secrets)"))
    .option("--yes", "confirm: the room's files and history cannot be recovered")
    .action(async (name: string, o: RemoteOpts & { yes?: boolean }) => {
      checkRoom(name);
      if (o.yes !== true) throw new CliError(`room delete removes room ${name}'s services, secrets, settings, session history and files for good; add --yes to confirm`);
      const c = connect(o);
      const path = `${await c.projectBase()}${roomPath(name)}`;
      const res = await c.fetch("DELETE", path, {});
      const text = await res.text();
      if (isUnknownRoom(res.status, text)) throw unknownRoomError(c, name);
      if (res.status === 409 && /live session/.test(text)) throw new CliError(`room ${name} has a live session; end it first with: roomservice room end ${name}`);
      if (!res.ok) throw c.httpError("DELETE", path, res.status, text);
      process.stdout.write(`room ${name} deleted\n`);
    });

  registerRoomWatch(room);
}
