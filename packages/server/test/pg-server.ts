import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/**
 * A real PostgreSQL server for tests: Debian's binaries (package `postgresql`, installed by
 * scripts/ensure-system.sh), a fresh cluster in a temp directory (initdb), listening on a
 * free loopback port, stopped and deleted by `stop()`. PostgreSQL refuses to run as root, so
 * under root the cluster belongs to the `postgres` user (created by the Debian package, else
 * `nobody`): initdb runs through `runuser`, the server through `setpriv`. Trust auth on
 * loopback: test only.
 */
export interface PgServer {
  /** postgres://roomservice@127.0.0.1:PORT/ — append a database name. */
  baseUrl: string;
  port: number;
  /** The directory of its unix socket (`?host=` in a libpq-style URL). */
  socketDir: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

/** Where Debian puts the server binaries (the newest version installed); ROOMSERVICE_PG_BIN overrides. */
export function pgBinDir(): string | null {
  const env = process.env.ROOMSERVICE_PG_BIN;
  if (env !== undefined && env !== "") return existsSync(join(env, "initdb")) ? env : null;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? null : join(root, versions[0], "bin");
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** The user PostgreSQL runs as when we are root; null when we are not root. */
function unprivilegedUser(): { name: string; uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ["postgres", "nobody"]) {
    try {
      const uid = Number(execFileSync("id", ["-u", name]).toString().trim());
      const gid = Number(execFileSync("id", ["-g", name]).toString().trim());
      return { name, uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as");
}

/** Starts a throwaway PostgreSQL cluster. Throws with what to install when the binaries are missing. */
export async function startPgServer(): Promise<PgServer> {
  const bin = pgBinDir();
  if (bin === null) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's postgresql package (scripts/ensure-system.sh does)");
  const user = unprivilegedUser();
  // Under root the server's user must reach its directory: $TMPDIR may be private (/root/...).
  const dir = await mkdtemp(join(user === null ? tmpdir() : "/tmp", "rs-pgstore-"));
  if (user !== null) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  const as = (cmd: string, args: string[]) => (user === null ? run(join(bin, cmd), args) : run("runuser", ["-u", user.name, "--", join(bin, cmd), ...args]));
  try {
    await as("initdb", ["-D", data, "-A", "trust", "-U", "roomservice", "-E", "UTF8", "--locale=C", "--no-sync"]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  // The postmaster runs in the foreground as our child, under `setpriv --pdeathsig KILL`:
  // if this test process dies (even by SIGKILL) the database goes with it instead of
  // lingering on the machine. (pg_ctl would daemonize it.)
  let child: ChildProcess | null = null;
  let port = 0;
  let lastErr = "";
  const log = join(dir, "log");
  // A free port can be taken between probing and binding: try a few.
  for (let attempt = 0; attempt < 5 && child === null; attempt++) {
    const p = await freePort();
    const fd = openSync(log, "a");
    const c = spawn("setpriv", [
      "--pdeathsig", "KILL",
      ...(user === null ? [] : ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups"]),
      join(bin, "postgres"), "-D", data, "-p", String(p), "-k", dir,
      // fsync off: a test cluster is thrown away; it spares the shared machine's disk.
      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
    ], { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    const exited = new Promise<string>((r) => c.once("exit", (code) => r(`postgres exited (${code})`)));
    const ready = (async () => {
      for (;;) {
        const cl = new pg.Client({ connectionString: `postgres://roomservice@127.0.0.1:${p}/postgres` });
        try {
          await cl.connect();
          await cl.end();
          return "ready";
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
    const timeout = new Promise<string>((r) => setTimeout(r, 60_000, "postgres did not accept connections within 60 s").unref());
    const outcome = await Promise.race([ready, exited, timeout]);
    if (outcome === "ready") {
      child = c;
      port = p;
    } else {
      c.kill("SIGKILL");
      lastErr = `${outcome}: ${readFileSync(log, "utf8").slice(-2000)}`;
    }
  }
  if (child === null) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`starting PostgreSQL failed: ${lastErr}`);
  }
  const running = child;
  // A test process that exits without stop() (a failed test, --test-force-exit) leaves no
  // server and no directory behind; pdeathsig covers SIGKILL for the server.
  const onExit = () => {
    running.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
  };
  process.once("exit", onExit);
  const baseUrl = `postgres://roomservice@127.0.0.1:${port}/`;
  let n = 0;
  let stopped: Promise<void> | null = null;
  return {
    baseUrl,
    port,
    socketDir: dir,
    async createDatabase(name = `rs_test_${process.pid}_${++n}`) {
      const c = new pg.Client({ connectionString: `${baseUrl}postgres` });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
      return `${baseUrl}${name}`;
    },
    stop() {
      stopped ??= (async () => {
        if (running.exitCode === null && running.signalCode === null) {
          const gone = new Promise((r) => running.once("exit", r));
          running.kill("SIGINT"); // fast shutdown: disconnect clients, stop
          await gone;
        }
        process.off("exit", onExit);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
