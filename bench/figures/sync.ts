/**
 * Issue #8 acceptance 6 — sync. Ten editors of one Yjs document.
 *
 *   Roomservice: the server in one child; 10 editors in another, each an SDK RoomClient with
 *                a `sync.open` stream sending exactly the chunks the SDK's SyncClient sends
 *                (base64 text of each Yjs update), the server checking each against the
 *                schema, applying it to its Y.Doc and relaying it to the 9 others.
 *   Baseline:    the plain `ws` relay (children/ws-server.ts) relaying the same Yjs updates
 *                as raw bytes to the 9 others.
 *
 * Latency at 100 updates/s in aggregate (round-robin; 900 deliveries/s); throughput with
 * every editor sending a burst back to back. Same pinning and rounds as the messaging figure.
 */
import { Child, stopAll } from "../lib/proc.ts";
import { row, type BenchContext, type Figure, type FigureResult } from "../lib/types.ts";
import { median, round } from "../lib/stats.ts";
import { startRoomservice, SERVER_CPU, CLIENT_CPU } from "../lib/util.ts";

const N = 10;
const RATE = 100;

type Kind = "rs" | "raw" | "ws";
interface Variant {
  kind: Kind;
  server: Child;
  clients: Child;
  remove(): Promise<void>;
  p50: number[];
  p99: number[];
  throughput: number[];
  lost: number;
}

async function setUp(ctx: BenchContext, kind: Kind): Promise<Variant> {
  let server: Child | null = null;
  let clients: Child | null = null;
  let remove: () => Promise<void> = async () => undefined;
  try {
    let url: string;
    let secret = "";
    if (kind === "ws") {
      server = await Child.start("sync-ws-server", "children/ws-server.ts", { cpu: ctx.pin ? SERVER_CPU : null, profileDir: ctx.profileDir });
      url = String(server.info.url);
    } else {
      const rs = await startRoomservice(ctx, "sync-rs-server", { cpu: ctx.pin ? SERVER_CPU : null });
      server = rs.child;
      url = rs.url;
      secret = rs.secret;
      remove = rs.remove;
    }
    clients = await Child.start(`sync-${kind}-clients`, "children/sync-clients.ts", {
      cpu: ctx.pin ? CLIENT_CPU : null,
      env: { SC_KIND: kind, SC_URL: url, SC_SECRET: secret, SC_N: String(N) },
    });
    const { ms } = await clients.call<{ ms: number }>("connect", undefined, 60_000);
    ctx.log(`  ${kind}: ${N} editors connected in ${ms.toFixed(0)} ms`);
    return { kind, server, clients, remove, p50: [], p99: [], throughput: [], lost: 0 };
  } catch (err) {
    await stopAll(clients, server);
    await remove();
    throw err;
  }
}

export const sync: Figure = {
  name: "sync",
  title: `Sync: ${N} editors of one Yjs document, relay latency at ${RATE} updates/s and burst throughput`,
  async run(ctx): Promise<FigureResult> {
    const q = ctx.quick;
    const rounds = q ? 1 : 3;
    const variants: Variant[] = [];
    try {
      for (const k of ["ws", "rs", "raw"] as Kind[]) variants.push(await setUp(ctx, k));
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < variants.length; i++) {
          const v = variants[(i + r) % variants.length]!;
          const l = await v.clients.call<{ latencyMs: { p50: number; p99: number }; expected: number; delivered: number }>(
            "rate", { rate: RATE, warmupMs: q ? 500 : 1000, durationMs: q ? 2000 : 5000 }, 120_000);
          v.p50.push(l.latencyMs.p50);
          v.p99.push(l.latencyMs.p99);
          v.lost += Math.max(0, l.expected - l.delivered);
          const b = await v.clients.call<{ deliveriesPerSec: number; delivered: number; expected: number }>("burst", { perEditor: q ? 50 : 200 }, 180_000);
          if (b.delivered < b.expected) throw new Error(`${v.kind}: burst lost ${b.expected - b.delivered} deliveries`);
          v.throughput.push(b.deliveriesPerSec);
          ctx.log(`  round ${r + 1}/${rounds} ${v.kind}: ${RATE}/s → p50 ${l.latencyMs.p50} ms, p99 ${l.latencyMs.p99} ms (${l.delivered}/${l.expected}); burst ${Math.round(b.deliveriesPerSec)} deliveries/s`);
        }
      }
    } finally {
      for (const v of variants) {
        await stopAll(v.clients, v.server);
        await v.remove();
      }
    }
    const [ws, rs, raw] = variants as [Variant, Variant, Variant];
    const p99 = median(rs.p99);
    return {
      rows: [
        row({ metric: `update relay latency p50 at ${RATE}/s, ${N} editors`, roomservice: round(median(rs.p50)), baseline: round(median(ws.p50)), unit: "ms", better: "lower" }),
        row({ metric: `update relay latency p99 at ${RATE}/s, ${N} editors`, roomservice: round(p99), baseline: round(median(ws.p99)), unit: "ms", better: "lower", target: "< 5 ms", met: p99 < 5 }),
        row({ metric: "burst relay throughput (deliveries/s)", roomservice: Math.round(median(rs.throughput)), baseline: Math.round(median(ws.throughput)), unit: "/s", better: "higher" }),
        row({ metric: `raw wire clients (no SDK): latency p99 at ${RATE}/s`, roomservice: round(median(raw.p99)), baseline: round(median(ws.p99)), unit: "ms", better: "lower", note: "diagnostic: same server, editors without the SDK" }),
        row({ metric: "raw wire clients (no SDK): burst throughput", roomservice: Math.round(median(raw.throughput)), baseline: Math.round(median(ws.throughput)), unit: "/s", better: "higher", note: "diagnostic" }),
      ],
      details: { editors: N, rate: RATE, rs: { p50: rs.p50, p99: rs.p99, throughput: rs.throughput, lost: rs.lost }, raw: { p50: raw.p50, p99: raw.p99, throughput: raw.throughput, lost: raw.lost }, ws: { p50: ws.p50, p99: ws.p99, throughput: ws.throughput, lost: ws.lost } },
    };
  },
};
