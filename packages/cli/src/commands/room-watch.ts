import type { Command } from "commander";
import { CliError, parseIntOption } from "../options.ts";
import type { ApiClient } from "../remote/client.ts";
import { addRemoteOptions, checkRoom, connect, roomPath } from "../remote/options.ts";
import { followSse } from "../remote/sse.ts";
import type { RemoteOpts } from "../remote/target.ts";
import { sessionRow, type LogLine, type RoomEventJson, type RoomLive } from "../remote/types.ts";
import { SeenPerSession } from "../remote/seen.ts";
import { findLiveService, roomLive } from "../remote/rooms.ts";

interface WatchOpts extends RemoteOpts {
  follow?: boolean;
  timestamps?: boolean;
  tail?: string;
}

/** stdout lines to stdout and stderr lines to stderr, so a terminal or `2>` tells them apart. */
function printLog(l: LogLine, o: WatchOpts): void {
  const line = `${o.timestamps ? `${l.at} ` : ""}${l.service_name} | ${l.text}\n`;
  (l.stream === "stderr" ? process.stderr : process.stdout).write(line);
}

function printEvent(e: RoomEventJson): void {
  const subject = e.service_name ?? e.participant?.name ?? "session";
  process.stdout.write(`${e.at}  ${e.type.padEnd(7)}  ${e.reason.padEnd(17)}  ${subject}  ${e.message}\n`);
}

/** The live session's id, else the most recent recorded one, else null. */
async function currentOrLastSession(c: ApiClient, room: string, live: RoomLive): Promise<string | null> {
  if (live.session !== null) return live.session.id;
  const body = await c.request<{ sessions: Record<string, unknown>[] }>("GET", `${await c.projectBase()}${roomPath(room)}/sessions`);
  const rows = body.sessions.map(sessionRow).sort((a, b) => b.started_at.localeCompare(a.started_at));
  return rows[0]?.id ?? null;
}

/**
 * Follows the room's SSE stream (docs/studio-api.md) until Ctrl-C, printing what `pick`
 * returns for each event. Items are de-duplicated by `seq`, since a reconnect replays.
 */
async function follow(c: ApiClient, room: string, attachedLine: string, onEvent: (name: string, data: unknown) => void): Promise<void> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await followSse(c, `${await c.projectBase()}${roomPath(room)}/stream`, {
      signal: ac.signal,
      onEvent,
      onStatus: (m) => process.stderr.write(`-- ${m}\n`),
      // roomLive answered just before, so a server stopping now is retried, not "no server".
      reachedBefore: true,
      // Said once the stream answers, so "waiting for its next session" is true when printed.
      onAttached: () => process.stderr.write(attachedLine),
    });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

/** Status lines for the person watching: what the stream is attached to. */
function describe(name: string, live: RoomLive): string {
  return live.session === null ? `-- room ${name} is idle; waiting for its next session (Ctrl-C to stop)\n` : `-- room ${name}, session ${live.session.id} (Ctrl-C to stop)\n`;
}

export function registerRoomWatch(room: Command): void {
  addRemoteOptions(room.command("logs <room> [service]").description("a room's service logs (the current or last session); -f follows live output"))
    .option("-f, --follow", "keep printing new lines as services write them")
    .option("-t, --timestamps", "prefix each line with its time")
    .option("--tail <n>", "without -f: only the last n lines (default 10000, at most 100000)")
    .action(async (name: string, ref: string | undefined, o: WatchOpts) => {
      checkRoom(name);
      const tail = o.tail === undefined ? null : parseIntOption("--tail", o.tail, 1, 100_000);
      const c = connect(o);
      // Following may wait for a room's first session; printing what was needs the room to exist.
      const live = await roomLive(c, name, { idleIfUnknown: o.follow === true });
      const only = ref === undefined ? null : findLiveService(live, ref);
      const wanted = (l: LogLine) => only === null || l.service_id === only.service_id;
      if (!o.follow) {
        const sid = await currentOrLastSession(c, name, live);
        if (sid === null) throw new CliError(`room ${name} has had no session yet, so there are no logs; follow the next one with: roomservice room logs ${name} -f`);
        const q = new URLSearchParams();
        if (only !== null) q.set("service", only.service_id);
        if (tail !== null) q.set("limit", String(tail));
        const body = await c.request<{ lines: LogLine[]; truncated?: boolean }>("GET", `${await c.projectBase()}/sessions/${encodeURIComponent(sid)}/logs${q.size > 0 ? `?${q}` : ""}`);
        if (body.truncated && tail === null) process.stderr.write(`-- earlier lines of session ${sid} left out (the server sends at most 10000; ask for more with --tail N)\n`);
        const lines = body.lines.filter(wanted);
        if (lines.length === 0) process.stderr.write(`-- no log lines${only === null ? "" : ` from ${only.name}`} in session ${sid}\n`);
        for (const l of lines) printLog(l, o);
        return;
      }
      const seen = new SeenPerSession();
      await follow(c, name, describe(name, live), (event, data) => {
        if (event === "session") {
          const s = data as { action: string; session_id: string; reason?: string };
          process.stderr.write(`-- session ${s.session_id} ${s.action}${s.reason ? ` (${s.reason})` : ""}\n`);
        }
        if (event !== "log") return;
        const l = data as LogLine;
        if (!seen.isNew(l) || !wanted(l)) return;
        printLog(l, o);
      });
    });

  addRemoteOptions(room.command("events <room>").description("a room's events: session, participants, service lifecycle and probes; -f follows live"))
    .option("-f, --follow", "keep printing new events as they happen")
    .action(async (name: string, o: WatchOpts) => {
      checkRoom(name);
      const c = connect(o);
      if (!o.follow) {
        const live = await roomLive(c, name);
        const sid = await currentOrLastSession(c, name, live);
        if (sid === null) throw new CliError(`room ${name} has had no session yet, so there are no events; follow the next one with: roomservice room events ${name} -f`);
        const { events } = await c.request<{ events: RoomEventJson[] }>("GET", `${await c.projectBase()}/sessions/${encodeURIComponent(sid)}/events`);
        // On one time axis (events of different sources may be kept out of order).
        for (const e of [...events].sort((a, b) => a.at.localeCompare(b.at) || a.seq - b.seq)) printEvent(e);
        return;
      }
      const seen = new SeenPerSession();
      await follow(c, name, describe(name, await roomLive(c, name, { idleIfUnknown: true })), (event, data) => {
        if (event !== "event") return;
        const e = data as RoomEventJson;
        if (!seen.isNew(e)) return;
        printEvent(e);
      });
    });
}
