import type { Command } from "commander";
import { mintParticipantToken, loadProjectSecret, parseDuration, defaultApiScope, roomNameError, ROLES, type Role } from "@roomservice/server";
import { CliError } from "../options.ts";
import { existingDataDir } from "./common.ts";

export function registerToken(program: Command): void {
  program
    .command("token")
    .description("print a participant JWT (the SDK's ParticipantToken format) signed with the project secret")
    .requiredOption("--room <room>", "room the token is valid for")
    .requiredOption("--identity <name>", "participant name")
    .option("--role <role>", `one of ${ROLES.join(", ")}`, "user")
    .option("--ttl <duration>", "lifetime, e.g. 90s, 15m, 1h, 7d", "1h")
    .option("--data <dir>", "the server's data directory, holding its project secret (env ROOMSERVICE_DATA, default ./.roomservice; not read when MESHAGENT_SECRET is set)")
    .option("--admin", "add the admin grant (services.restart; the REST API) to the role's default api scope")
    .action(async (o: { room: string; identity: string; role: string; ttl: string; data?: string; admin?: boolean }) => {
      const roomErr = roomNameError(o.room);
      if (roomErr !== null) throw new CliError(`--room: ${roomErr}`);
      if (!(ROLES as readonly string[]).includes(o.role)) throw new CliError(`--role: expected one of ${ROLES.join(", ")}, got ${JSON.stringify(o.role)}`);
      let ttl: number;
      try {
        ttl = parseDuration(o.ttl);
      } catch (err) {
        throw new CliError(`--ttl: ${(err as Error).message}`);
      }
      if (ttl <= 0) throw new CliError("--ttl: must be greater than zero");
      if (o.identity.trim().length === 0) throw new CliError("--identity: must not be empty");
      // The server signs with MESHAGENT_SECRET when set, else with <data>/project-secret; a
      // token signed with anything else is refused ("signature invalid"), so never invent one.
      let secret: string;
      if (process.env.MESHAGENT_SECRET) {
        process.stderr.write("signed with MESHAGENT_SECRET\n");
        secret = process.env.MESHAGENT_SECRET;
      } else {
        const dir = existingDataDir(o.data, "project-secret");
        secret = loadProjectSecret(dir, {});
      }
      const jwt = await mintParticipantToken(secret, {
        identity: o.identity, room: o.room, role: o.role as Role, ttlSeconds: Math.ceil(ttl),
        projectId: process.env.ROOMSERVICE_PROJECT_ID ?? "default",
        ...(o.admin === true ? { api: { ...defaultApiScope(o.role as Role), admin: {} } } : {}),
      });
      process.stdout.write(jwt + "\n");
    });
}
