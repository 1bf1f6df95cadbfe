/**
 * Benchmark child: a Roomservice server on 127.0.0.1, port 0, no services runtime, logging
 * silenced (as in the tests). Env: RS_SECRET, RS_DATA_DIR, optional RS_STUDIO_DIR (the app
 * served at /) and RS_DEPARTURE_TIMEOUT_MS. Answers `usage` with its own CPU time and memory so the runner measures the
 * server alone, and `apiKey` with a fresh API key (for signing a browser in).
 */
import { writeHeapSnapshot } from "node:v8";
import { pino } from "pino";
import { startRoomServer } from "@roomservice/server";
import { serve, usage } from "../lib/rpc.ts";

const secret = process.env.RS_SECRET;
const dataDir = process.env.RS_DATA_DIR;
if (!secret || !dataDir) throw new Error("RS_SECRET and RS_DATA_DIR are required");

const server = await startRoomServer({
  host: "127.0.0.1",
  port: 0,
  dataDir,
  secret,
  logger: pino({ level: "silent" }),
  runtime: null,
  ...(process.env.RS_STUDIO_DIR ? { studioDir: process.env.RS_STUDIO_DIR } : {}),
  ...(process.env.RS_DEPARTURE_TIMEOUT_MS ? { departureTimeoutMs: Number(process.env.RS_DEPARTURE_TIMEOUT_MS) } : {}),
});

serve(
  {
    usage: (a: { gc?: boolean } | null) => usage(a?.gc === true),
    rooms: () => ({ rooms: server.rooms.list().length }),
    /** Session-history transactions and writes committed so far (null on builds without the history writer). */
    history: () => (server.ctx.store as { history?: { committed: unknown } }).history?.committed ?? null,
    /** Writes a V8 heap snapshot (for attributing per-room memory); returns its path. */
    heapSnapshot: (a: { path: string }) => ({ path: writeHeapSnapshot(a.path) }),
    apiKey: async () => ({ key: (await server.apiKeys.create("default", "bench", Date.now())).key }),
    close: () => server.close(),
  },
  { url: server.url, pid: process.pid },
);
