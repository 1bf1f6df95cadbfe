import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { mintParticipantToken } from "../src/index.ts";
import { guardedFactory, sdk } from "./helpers.ts";
import { startPgServer, type PgServer } from "./pg-server.ts";
import { waitForServerUrl } from "./process.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/** One `serve --cluster` child process. `restart()` starts it again on the same data directory (same node id). */
export interface ClusterNodeProc {
  name: string;
  dataDir: string;
  url: string;
  nodeId: string;
  child: ChildProcess;
  output(): string;
  /** What the node printed on stdout (its URL, the Studio login link). */
  stdout(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
}

/** A test cluster: a private PostgreSQL, a shared directory and N real `serve --cluster` processes. */
export interface TestCluster {
  pg: PgServer;
  /** The cluster's database URL. */
  databaseUrl: string;
  db: pg.Pool;
  sharedDir: string;
  secret: string;
  nodes: ClusterNodeProc[];
  token(room: string, identity: string, o?: { api?: Record<string, unknown>; admin?: boolean }): Promise<string>;
  /** An SDK client connected through `node` (reconnects when `reconnect` is set). */
  client(node: ClusterNodeProc, room: string, identity: string, o?: { reconnect?: boolean }): Promise<any>;
  /** room → owning node id, live leases only. */
  owners(): Promise<Map<string, string>>;
  /**
   * Time passes for a stopped or killed node, and only for it: its leases expire and its
   * heartbeat is older than any lease TTL, as if it had been silent for an hour. Tests whose
   * subject is a node going away use this instead of waiting out a short TTL, so the live
   * nodes can keep a long one that no stall of a loaded machine can run out.
   */
  ageNode(nodeId: string): Promise<void>;
  close(): Promise<void>;
}

async function spawnNode(name: string, dataDir: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string; stdout: () => string }> {
  // Under `setpriv --pdeathsig KILL` (it execs node: the pid is the server's): a test process
  // that dies takes its nodes with it instead of leaving them running.
  const child = spawn("setpriv", ["--pdeathsig", "KILL", process.execPath, join(root, "packages/cli/src/main.ts"), "serve", "--port", "0", "--host", "127.0.0.1", "--data", dataDir, "--cluster"], {
    // The demo room is off unless a test asks for it (ROOMSERVICE_DEMO in `env`).
    env: { ...process.env, ROOMSERVICE_LOG_LEVEL: process.env.ROOMSERVICE_TEST_LOG ?? "warn", ROOMSERVICE_RUNTIME: "none", ROOMSERVICE_DEMO: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let stdout = "";
  child.stderr!.on("data", (d) => (out = (out + d).slice(-20000)));
  child.stdout!.on("data", (d) => (stdout = (stdout + d).slice(-20000)));
  const url = await waitForServerUrl(child, name, 60_000, () => out);
  return { child, url, output: () => out, stdout: () => stdout };
}

/**
 * The nodes' lease TTL unless a test asks otherwise. Long on purpose: a live node stalled for
 * `TTL − TTL/4` (a loaded CI machine, a slow database) would rightly lose its rooms mid-test.
 * A node's death is made to count at once with `ageNode`, not by waiting for its leases to run out.
 */
export const TEST_LEASE_TTL_S = 30;

export async function startTestCluster(o: { nodes: number; leaseTtlSeconds?: number; env?: Record<string, string> }): Promise<TestCluster> {
  const pgs = await startPgServer();
  const databaseUrl = await pgs.createDatabase("cluster");
  const base = mkdtempSync(join(tmpdir(), "rs-cluster-"));
  const sharedDir = join(base, "shared");
  const secret = "cluster-test-secret-" + Math.random().toString(36).slice(2);
  const env = {
    MESHAGENT_SECRET: secret, ROOMSERVICE_DATABASE_URL: databaseUrl, ROOMSERVICE_SHARED_DIR: sharedDir,
    ROOMSERVICE_LEASE_TTL: String(o.leaseTtlSeconds ?? TEST_LEASE_TTL_S), ...o.env,
  };
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  db.on("error", () => undefined); // idle connections end when the test database stops
  const clients: any[] = [];
  const nodes: ClusterNodeProc[] = [];
  const makeNode = async (name: string): Promise<ClusterNodeProc> => {
    const dataDir = join(base, name);
    const started = await spawnNode(name, dataDir, env);
    const health = (await (await fetch(`${started.url}/healthz`)).json()) as { node: string };
    const n: ClusterNodeProc = {
      name, dataDir, url: started.url, nodeId: health.node, child: started.child, output: started.output, stdout: started.stdout,
      async kill(signal) {
        if (n.child.exitCode !== null || n.child.signalCode !== null) return;
        const exited = new Promise((r) => n.child.once("exit", r));
        n.child.kill(signal);
        await exited;
      },
      async restart() {
        const again = await spawnNode(name, dataDir, env);
        n.child = again.child;
        n.url = again.url;
        n.output = again.output;
        n.stdout = again.stdout;
      },
    };
    return n;
  };
  try {
    // One after the other: the first creates the schema (the others would wait on its lock anyway).
    for (let i = 0; i < o.nodes; i++) nodes.push(await makeNode(`node${i + 1}`));
  } catch (err) {
    for (const n of nodes) await n.kill("SIGKILL");
    await db.end();
    await pgs.stop();
    throw err;
  }
  const c: TestCluster = {
    pg: pgs, databaseUrl, db, sharedDir, secret, nodes,
    token: (room, identity, to = {}) => mintParticipantToken(secret, {
      room, identity, role: "user", ttlSeconds: 3600,
      ...(to.api === undefined ? {} : { api: to.api as never }),
    }),
    async client(node, room, identity, co = {}) {
      const jwt = await c.token(room, identity);
      const client = new sdk.RoomClient({
        // The URL is read at every (re)connect, so a reconnecting client follows `node.url`.
        // Guarded: a reconnect attempt the SDK abandons mid-handshake must not crash the test.
        protocolFactory: () => (guardedFactory(`${node.url.replace(/^http/, "ws")}/rooms/${room}`, jwt) as () => unknown)(),
        ...(co.reconnect ? {} : { reconnectTimeout: 0 }),
      });
      await client.start();
      clients.push(client);
      return client;
    },
    async owners() {
      const r = await db.query<{ room: string; node_id: string }>("SELECT room, node_id FROM room_leases WHERE expires_at > now()");
      return new Map(r.rows.map((x) => [x.room, x.node_id]));
    },
    async ageNode(nodeId) {
      await db.query("UPDATE room_leases SET expires_at = now() - interval '1 second' WHERE node_id = $1", [nodeId]);
      await db.query("UPDATE cluster_nodes SET last_seen = now() - interval '1 hour' WHERE node_id = $1", [nodeId]);
    },
    async close() {
      for (const cl of clients) {
        try {
          cl.dispose();
        } catch {
          // already closed
        }
      }
      try {
        await Promise.all(nodes.map((n) => n.kill("SIGTERM")));
        await db.end();
      } finally {
        await pgs.stop();
        rmSync(base, { recursive: true, force: true });
      }
    },
  };
  return c;
}
