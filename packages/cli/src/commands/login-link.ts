import type { Command } from "commander";
import { join } from "node:path";
import pino from "pino";
import { SharedBrowserSessions, systemClock } from "@roomservice/server";
import { ACCESS_FILE, readAccessFile } from "../remote/target.ts";
import { openLocalStores, DATA_OPTION, DATABASE_OPTION } from "./common.ts";

/**
 * `login-link`: a new one-time Studio sign-in link, written straight into the server's
 * database (like `apikey`, it works on the data directory, so it needs no key). The link
 * works once, for 10 minutes, on the running server or the next one started on that data.
 */
export function registerLoginLink(program: Command): void {
  program
    .command("login-link")
    .description("print a new one-time Studio sign-in link (works once, for 10 minutes; works on the data directory)")
    .option(...DATA_OPTION)
    .option(...DATABASE_OPTION)
    .action(async (o: { data?: string; database?: string }) => {
      const s = await openLocalStores(o.data, o.database);
      try {
        const sessions = new SharedBrowserSessions(s.store, systemClock, pino({ level: "silent" }));
        const code = await sessions.createLoginCode();
        // serve writes its URL into the access file; without one, the path is all we know.
        const access = readAccessFile(join(s.dataDir, ACCESS_FILE));
        if (access !== null) process.stdout.write(`Studio: ${access.url}/?login=${code}\n`);
        else process.stdout.write(`Studio: <the server's URL>/?login=${code}\n(no ${ACCESS_FILE} in ${s.dataDir}: open that path on the server's address)\n`);
      } finally {
        await s.close();
      }
    });
}
