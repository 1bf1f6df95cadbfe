import type { Command } from "commander";
import { roomNameError, RoomSettingsStore, SessionStore } from "@roomservice/server";
import { CliError, parseIntOption } from "../options.ts";
import { openLocalStores, DATA_OPTION } from "./common.ts";

export function registerRoom(program: Command): void {
  const room = program.command("room").description("per-room settings and history");
  room
    .command("set-departure-timeout <room> <seconds>")
    .description("how long the room's session outlives its last participant (\"default\" to clear); applies to the next departure")
    .option(...DATA_OPTION)
    .action((name: string, seconds: string, o: { data?: string }) => {
      const err = roomNameError(name);
      if (err !== null) throw new CliError(err);
      const ms = seconds === "default" ? null : parseIntOption("<seconds>", seconds, 0, 86400) * 1000;
      const s = openLocalStores(o.data);
      try {
        new RoomSettingsStore(s.store).setDepartureTimeoutMs(name, ms, Date.now());
        process.stdout.write(ms === null ? `room ${name}: departure timeout back to the server default\n` : `room ${name}: departure timeout ${ms / 1000} s\n`);
      } finally {
        s.close();
      }
    });
  room
    .command("sessions <room>")
    .description("recent sessions of a room (id, start, end, reason, participants)")
    .option(...DATA_OPTION)
    .action((name: string, o: { data?: string }) => {
      const s = openLocalStores(o.data);
      try {
        for (const r of new SessionStore(s.store).list(name, 50)) {
          const end = r.endedAt === null ? "(running)" : new Date(r.endedAt).toISOString();
          process.stdout.write(`${r.id}  ${new Date(r.startedAt).toISOString()}  ${end}  ${r.endReason ?? ""}  ${r.participants.join(",")}\n`);
        }
      } finally {
        s.close();
      }
    });
}
