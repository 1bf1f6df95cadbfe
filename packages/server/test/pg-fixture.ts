import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Debian's PostgreSQL 15 server binaries (package postgresql-15; scripts/ensure-system.sh). */
export const PG_BIN = process.env.ROOMSERVICE_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface TestPostgres {
  /** postgres://roomservice@127.0.0.1:PORT/roomservice */
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a private PostgreSQL in a temp directory (initdb + postgres on a free loopback port,
 * trust auth, fsync off: it is thrown away). As root, the server runs as the `postgres` user
 * (it refuses to run as root).
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "rs-pg-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => (asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] as const : [cmd, args] as const);
  if (asRoot) chownSync(dir, Number(execFileSync("id", ["-u", "postgres"]).toString().trim()), Number(execFileSync("id", ["-g", "postgres"]).toString().trim()));
  const [c1, a1] = run(join(PG_BIN, "initdb"), ["-D", data, "-A", "trust", "-U", "roomservice", "--no-sync", "-E", "UTF8"]);
  execFileSync(c1, [...a1], { stdio: "pipe" });
  const port = await freePort();
  const [c2, a2] = run(join(PG_BIN, "postgres"), ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]);
  const child: ChildProcess = spawn(c2, [...a2], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d) => (log = (log + d).slice(-4000)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      execFileSync(join(PG_BIN, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
      break;
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`test PostgreSQL did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  execFileSync(join(PG_BIN, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "roomservice", "roomservice"], { stdio: "pipe" });
  return {
    url: `postgres://roomservice@127.0.0.1:${port}/roomservice`,
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        // Signal the postmaster itself (runuser does not pass every signal on): SIGINT is
        // PostgreSQL's fast shutdown (open connections are closed, nothing waits for them).
        const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
        try {
          process.kill(pid, "SIGINT");
        } catch {
          child.kill("SIGKILL");
        }
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when the PostgreSQL server binaries are installed. */
export function postgresAvailable(): boolean {
  return existsSync(join(PG_BIN, "postgres"));
}
