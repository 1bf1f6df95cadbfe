/**
 * Issue #4 item 6 — density. 1,000 rooms with two participants each, no services, idle.
 *
 *   Roomservice: server child (started with --expose-gc); 2,000 @meshagent/meshagent SDK
 *                clients in a separate client child (and, as a diagnostic, 2,000 raw
 *                wire-protocol clients, which show connect time without SDK start-up cost).
 *   Baseline:    a plain `ws` server child accepting the same 2,000 connections from plain
 *                `ws` clients.
 *
 * Memory is the server child's own: sampled before any client connects and after all are
 * connected and idle, each time after three full GCs (global.gc, a turn of the event loop
 * between them). heapUsed counts live JS objects only; `external` (ArrayBuffers: socket read
 * buffers, queued writes) is reported apart, and kernel socket buffers are not in the
 * process at all (they are kernel memory, outside RSS). RSS is reported too, as an upper
 * bound: it includes allocator slack and pages V8 has not returned.
 */
import { Child, stopAll } from "../lib/proc.ts";
import { row, type BenchContext, type Figure, type FigureResult } from "../lib/types.ts";
import { round } from "../lib/stats.ts";
import { startRoomservice, SERVER_CPU, CLIENT_CPU } from "../lib/util.ts";
import type { Usage } from "../lib/rpc.ts";
import { OutsideLoadMeter, disturbed, type OutsideLoad } from "../lib/machine.ts";

type Kind = "sdk" | "raw" | "ws";
const PER_ROOM = 2;
const CONCURRENCY = 50;

interface ConnectResult {
  kind: Kind;
  wallMs: number;
  connected: number;
  failed: number;
  firstError: string | null;
  perConnectionMs: Record<string, number>;
  clientRssBytes: number;
}

interface VariantResult {
  kind: Kind;
  rooms: number;
  connect: ConnectResult;
  /** Server memory growth per room (per pair of connections for the baseline), bytes. */
  perRoom: { heapUsed: number; external: number; rss: number };
  before: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
  serverRooms: number | null;
  /** Outside load while connecting (connect time is sensitive to it, memory is not). */
  outside: OutsideLoad | null;
  disturbed: boolean;
}

async function variant(ctx: BenchContext, kind: Kind, rooms: number): Promise<VariantResult> {
  let server: Child | null = null;
  let clients: Child | null = null;
  let remove: () => Promise<void> = async () => undefined;
  const serverCpu = ctx.pin ? SERVER_CPU : null;
  try {
    let url: string;
    let secret = "";
    if (kind === "ws") {
      server = await Child.start("density-ws-server", "children/ws-server.ts", { cpu: serverCpu, execArgv: ["--expose-gc"], profileDir: ctx.profileDir });
      url = String(server.info.url);
    } else {
      const rs = await startRoomservice(ctx, `density-${kind}-server`, { cpu: serverCpu, execArgv: ["--expose-gc"] });
      server = rs.child;
      url = rs.url;
      secret = rs.secret;
      remove = rs.remove;
    }
    clients = await Child.start(`density-${kind}-clients`, "children/density-clients.ts", {
      cpu: ctx.pin ? CLIENT_CPU : null,
      env: { DC_KIND: kind, DC_URL: url, DC_SECRET: secret, DC_ROOMS: String(rooms), DC_PER_ROOM: String(PER_ROOM), DC_CONCURRENCY: String(CONCURRENCY) },
    });
    const before = await server.call<Usage>("usage", { gc: true });
    const meter = new OutsideLoadMeter([server.proc.pid, clients.proc.pid]);
    meter.start();
    const c = await clients.call<ConnectResult>("connect", undefined, 300_000);
    const outside = meter.stop();
    if (c.failed > 0) throw new Error(`${kind}: ${c.failed} of ${rooms * PER_ROOM} connections failed: ${c.firstError}`);
    await new Promise((r) => setTimeout(r, 1000)); // idle: let handshakes' garbage and buffers go
    const after = await server.call<Usage>("usage", { gc: true });
    const serverRooms = kind === "ws" ? null : (await server.call<{ rooms: number }>("rooms")).rooms;
    const d = (k: keyof NodeJS.MemoryUsage) => (after.mem[k] - before.mem[k]) / rooms;
    const r: VariantResult = {
      kind, rooms, connect: c,
      perRoom: { heapUsed: d("heapUsed"), external: d("external"), rss: d("rss") },
      before: before.mem, after: after.mem, serverRooms, outside, disturbed: disturbed(outside),
    };
    ctx.log(
      `  ${kind}: ${c.connected} connections in ${(c.wallMs / 1000).toFixed(2)} s (per connection p50 ${c.perConnectionMs.p50} ms, p99 ${c.perConnectionMs.p99} ms); ` +
        `server per room: heap ${(r.perRoom.heapUsed / 1024).toFixed(1)} KiB, external ${(r.perRoom.external / 1024).toFixed(1)} KiB, RSS ${(r.perRoom.rss / 1024).toFixed(1)} KiB` +
        (outside === null ? "" : `; others ${outside.foreignCores.toFixed(2)} cores${r.disturbed ? " → DISTURBED" : ""}`),
    );
    return r;
  } finally {
    await stopAll(clients, server);
    await remove();
  }
}

const kib = (b: number) => round(b / 1024, 4);

export const density: Figure = {
  name: "density",
  title: "Density: idle rooms with two participants each, server memory per room and time to connect",
  async run(ctx): Promise<FigureResult> {
    const rooms = ctx.quick ? 100 : 1000;
    // A variant whose connect window saw outside load is run again (once).
    const measured = async (kind: Kind) => {
      const first = await variant(ctx, kind, rooms);
      return first.disturbed && !ctx.quick ? await variant(ctx, kind, rooms) : first;
    };
    const ws = await measured("ws");
    const sdk = await measured("sdk");
    const raw = await measured("raw");
    const heapPlusExternal = (v: VariantResult) => v.perRoom.heapUsed + v.perRoom.external;
    const rows = [
      row({
        metric: `server memory per idle room, heap+external after GC (KiB; ${rooms} rooms × ${PER_ROOM} SDK clients)`,
        roomservice: kib(heapPlusExternal(sdk)), baseline: kib(heapPlusExternal(ws)), unit: "KiB", better: "lower",
        target: "< 50 KB (48.8 KiB)", met: heapPlusExternal(sdk) < 50_000,
        note: "baseline: per pair of plain ws connections",
      }),
      row({
        metric: "server RSS growth per idle room (KiB)",
        roomservice: kib(sdk.perRoom.rss), baseline: kib(ws.perRoom.rss), unit: "KiB", better: "lower",
        target: "< 50 KB (48.8 KiB)", met: sdk.perRoom.rss < 50_000,
        note: "upper bound: includes allocator slack, SQLite page cache, pages V8 keeps",
      }),
      row({
        metric: `time to connect ${rooms * PER_ROOM} SDK participants (s)`,
        roomservice: round(sdk.connect.wallMs / 1000), baseline: round(ws.connect.wallMs / 1000), unit: "s", better: "lower",
        note: `${CONCURRENCY} connects in flight; baseline: plain ws connections`,
      }),
      row({
        metric: `time to connect ${rooms * PER_ROOM} raw-protocol participants (s)`,
        roomservice: round(raw.connect.wallMs / 1000), baseline: round(ws.connect.wallMs / 1000), unit: "s", better: "lower",
        note: "diagnostic: same server, clients without the SDK",
      }),
      row({
        metric: "server memory per idle room, raw-protocol clients (KiB, heap+external)",
        roomservice: kib(heapPlusExternal(raw)), baseline: kib(heapPlusExternal(ws)), unit: "KiB", better: "lower",
        note: "diagnostic",
      }),
    ];
    return { rows, details: { rooms, perRoom: PER_ROOM, concurrency: CONCURRENCY, variants: { ws, sdk, raw } } };
  },
};
