import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startRoomServer, mintParticipantToken, type RoomServer, type Role, type ServerOptions } from "../src/index.ts";
import { startPgServer, type PgServer } from "./pg-server.ts";

// The SDK's ESM entry is CommonJS marked as ESM; load it through require (DESIGN.md §2).
const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const sdk: any = require("@meshagent/meshagent");

export interface TestServer {
  server: RoomServer;
  url: string;
  wsUrl: string;
  secret: string;
  dataDir: string;
  token(room: string, identity: string, o?: { role?: Role; api?: Record<string, unknown>; ttlSeconds?: number }): Promise<string>;
  client(room: string, identity: string, o?: { role?: Role; api?: Record<string, unknown> }): Promise<any>;
  close(): Promise<void>;
}

/**
 * With ROOMSERVICE_TEST_POSTGRES=1 every test server gets a fresh database on one PostgreSQL
 * started for this test process (test/pg-server.ts): the same tests then prove the
 * PostgreSQL wiring (store-postgres-rest.test.ts). Otherwise undefined: SQLite in the data dir.
 */
let testPg: Promise<PgServer> | null = null;
async function testDatabaseUrl(): Promise<string | undefined> {
  if (process.env.ROOMSERVICE_TEST_POSTGRES !== "1") return undefined;
  testPg ??= startPgServer();
  return (await testPg).createDatabase();
}

export async function startTestServer(o: Partial<Parameters<typeof startRoomServer>[0]> = {}): Promise<TestServer> {
  const dataDir = o.dataDir ?? (await mkdtemp(join(tmpdir(), "rs-test-")));
  const secret = o.secret ?? "test-secret-" + Math.random().toString(36).slice(2);
  const logger = pino({ level: process.env.ROOMSERVICE_TEST_LOG ?? "silent" });
  const databaseUrl = o.databaseUrl ?? (await testDatabaseUrl());
  const server = await startRoomServer({ host: "127.0.0.1", port: 0, logger, ...o, dataDir, secret, ...(databaseUrl === undefined ? {} : { databaseUrl }) });
  const wsUrl = server.url.replace(/^http/, "ws");
  const clients: any[] = [];
  const t: TestServer = {
    server,
    url: server.url,
    wsUrl,
    secret,
    dataDir,
    token: (room, identity, to = {}) =>
      mintParticipantToken(secret, {
        room, identity, role: to.role ?? "user", ttlSeconds: to.ttlSeconds ?? 3600,
        ...(to.api === undefined ? {} : { api: to.api as never }),
      }),
    async client(room, identity, co = {}) {
      const jwt = await t.token(room, identity, co);
      const client = new sdk.RoomClient({
        protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${wsUrl}/rooms/${room}`, token: jwt }),
        reconnectTimeout: 0,
      });
      await client.start();
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) {
        await settle(c);
        try {
          c.dispose();
        } catch {
          // already closed
        }
      }
      await server.close();
      if (o.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

/**
 * SDK 0.39.9 quirk: dispose() rejects requests that are queued but not yet written, before
 * anything awaits them, which surfaces as an unhandled rejection. Let in-flight requests
 * (e.g. the final chunk of a finished stream) settle first.
 */
export async function settle(client: any, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (client._pendingRequests?.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Resolves with the first event for which `pred` holds, or rejects after `ms`. */
export function waitFor<T>(subscribe: (fn: (v: T) => void) => () => void, pred: (v: T) => boolean, ms = 5000, what = "event"): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const off = subscribe((v) => {
      if (pred(v)) {
        clearTimeout(timer);
        off();
        resolve(v);
      }
    });
  });
}

/** Polls `check` until it returns true. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Collects `message` events of a client's messaging. */
export function collectMessages(client: any): { messages: any[] } {
  const box = { messages: [] as any[] };
  client.messaging.on("message", (e: any) => box.messages.push(e.message));
  return box;
}

/**
 * SDK 0.39.9 quirk: after a refused handshake, dispose() closes a still-connecting socket
 * whose error listener it already removed, so `ws` emits an unhandled 'error' and the process
 * dies. This factory keeps a no-op error listener on the socket.
 */
export function guardedFactory(url: string, token: string): () => unknown {
  const base = sdk.WebSocketClientProtocol.createFactory({ url, token });
  return () => {
    const protocol = base();
    const channel = protocol.channel;
    const start = channel.start.bind(channel);
    channel.start = (...args: unknown[]) => {
      start(...args);
      channel.webSocket?.on?.("error", () => undefined);
    };
    return protocol;
  };
}

/** An SDK client expected to be refused: guarded factory, and `ready` observed. */
export function refusableClient(roomUrl: string, token: string): any {
  const client = new sdk.RoomClient({ protocolFactory: guardedFactory(roomUrl, token), reconnectTimeout: 0 });
  client.ready.catch(() => undefined);
  return client;
}

const cliMain = fileURLToPath(new URL("../../cli/src/main.ts", import.meta.url));

/** Runs the real CLI (`roomservice …`) with a bare environment; resolves with its exit code and output. */
export function runCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cliMain, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "", HOME: tmpdir() } });
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (err += d));
    c.on("exit", (code) => resolve({ code, out, err }));
  });
}
