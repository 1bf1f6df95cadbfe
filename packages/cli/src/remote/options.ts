import type { Command } from "commander";
import { roomNameError } from "@roomservice/protocol";
import { CliError } from "../options.ts";
import { ApiClient } from "./client.ts";
import { resolveTarget, type RemoteOpts } from "./target.ts";

/** Adds --url, --api-key and --data to a command that talks to the running server. */
export function addRemoteOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", "the server (env ROOMSERVICE_URL; default: the URL in <data>/cli-access.json, else http://127.0.0.1:8080)")
    .option("--api-key <key>", "an API key (env ROOMSERVICE_API_KEY; default: the key `serve` wrote to <data>/cli-access.json)")
    .option("--data <dir>", "the server's data directory, read only for cli-access.json (env ROOMSERVICE_DATA, default ./.roomservice)");
}

/** A client for the server the options point at. */
export function connect(o: RemoteOpts): ApiClient {
  return new ApiClient(resolveTarget(o));
}

/** Refuses a bad room name before anything is sent (exit 2, the rule in the message). */
export function checkRoom(name: string, what = "room"): string {
  const err = roomNameError(name);
  if (err !== null) throw new CliError(what === "room" ? err : `${what}: ${err}`);
  return name;
}

/** `/rooms/{room}` path segment. */
export const roomPath = (room: string): string => `/rooms/${encodeURIComponent(room)}`;
