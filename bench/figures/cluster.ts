/**
 * Issue 11 acceptance 5 — the cost of the cluster: three real `serve --cluster` processes
 * (runtime none: this measures routing and sessions, not containers) sharing a private
 * PostgreSQL and a storage directory, SDK clients in this process.
 *
 *   connect latency   SDK start() → room ready, through the owner directly (baseline) vs through
 *                     another node that forwards the WebSocket (the hop). The room is held open
 *                     by a client on the owner, so every connection joins a live session.
 *   message latency   one-way, sender → receiver in this process (one clock): both clients on the
 *                     owner (baseline) vs both through forwarding nodes (two hops per message).
 *   rooms started/s   M new rooms, 10 connecting at a time, spread round-robin over k nodes
 *                     (each room's first connection takes its lease there), k = 1 (baseline),
 *                     2, 3.
 *
 * Direct and forwarded runs alternate. Skipped in --quick (three server processes and a
 * PostgreSQL take ~30 s to start on a loaded 2-core machine).
 */
import { row, type BenchContext, type Figure, type FigureResult } from "../lib/types.ts";
import { summarize, roundSummary, round, median } from "../lib/stats.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { startTestCluster, type ClusterNodeProc, type TestCluster } from "../../packages/server/test/cluster-helpers.ts";

async function connectMs(cl: TestCluster, node: ClusterNodeProc, room: string, identity: string): Promise<number> {
  const token = await cl.token(room, identity);
  const t0 = performance.now();
  const c = await sdkClient(node.url, room, token);
  const ms = performance.now() - t0;
  await disposeSdkClient(c);
  return ms;
}

/** A sender on `from` and a receiver on `to` in one room; `send()` returns one message's one-way latency (ms). */
async function messagePair(cl: TestCluster, from: ClusterNodeProc, to: ClusterNodeProc, room: string, tag: string): Promise<{ send(): Promise<number>; close(): Promise<void> }> {
  const a = await sdkClient(from.url, room, await cl.token(room, `a-${tag}`));
  const b = await sdkClient(to.url, room, await cl.token(room, `b-${tag}`));
  a.messaging.enable();
  b.messaging.enable();
  const deadline = Date.now() + 30_000;
  while (!a.messaging.getParticipantByName(`b-${tag}`)) {
    if (Date.now() > deadline) throw new Error("participants did not see each other");
    await new Promise((r) => setTimeout(r, 20));
  }
  const target = a.messaging.getParticipantByName(`b-${tag}`);
  let seq = 0;
  return {
    async send() {
      const type = `m${seq++}`;
      const got = new Promise<number>((resolve) => {
        const on = (e: { message: { type: string } }) => {
          if (e.message.type !== type) return;
          b.messaging.off("message", on);
          resolve(performance.now());
        };
        b.messaging.on("message", on);
      });
      const t0 = performance.now();
      await a.messaging.sendMessage({ to: target, type, message: {} });
      return (await got) - t0;
    },
    async close() {
      await disposeSdkClient(a);
      await disposeSdkClient(b);
    },
  };
}

/** Rooms per second: `m` new rooms, `concurrency` at a time, round-robin over `nodes`. */
async function roomsPerSecond(cl: TestCluster, nodes: ClusterNodeProc[], prefix: string, m: number, concurrency: number): Promise<number> {
  const clients: unknown[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= m) return;
      const room = `${prefix}-${i}`;
      clients.push(await sdkClient(nodes[i % nodes.length]!.url, room, await cl.token(room, "starter")));
    }
  }));
  const rate = m / ((performance.now() - t0) / 1000);
  await Promise.all(clients.map((c) => disposeSdkClient(c)));
  return rate;
}

export const cluster: Figure = {
  name: "cluster",
  title: "Cluster: forwarding hop (connect, message) and rooms started/s with 1-3 nodes",
  async run(ctx: BenchContext): Promise<FigureResult> {
    if (ctx.quick) {
      return { rows: [row({ metric: "cluster figure", roomservice: null, unit: "", better: "lower", note: "skipped in --quick (starts PostgreSQL and three nodes)" })], details: {} };
    }
    const reps = 40;
    const messages = 300;
    const roomsM = 60;
    ctx.log("starting PostgreSQL and three cluster nodes");
    const cl = await startTestCluster({ nodes: 3, leaseTtlSeconds: 10 });
    try {
      const [n1, n2, n3] = cl.nodes as [ClusterNodeProc, ClusterNodeProc, ClusterNodeProc];
      // The room lives on node1 for the whole figure.
      const holder = await sdkClient(n1.url, "bench-hop", await cl.token("bench-hop", "holder"));
      const direct: number[] = [];
      const forwarded: number[] = [];
      ctx.log(`connect latency: ${reps} alternating runs`);
      for (let i = 0; i < reps; i++) {
        direct.push(await connectMs(cl, n1, "bench-hop", `d${i}`));
        forwarded.push(await connectMs(cl, i % 2 === 0 ? n2 : n3, "bench-hop", `f${i}`));
      }
      ctx.log(`message latency: ${messages} messages each way, alternating blocks of 25`);
      const directPair = await messagePair(cl, n1, n1, "bench-hop", "direct");
      const forwardedPair = await messagePair(cl, n2, n3, "bench-hop", "forwarded");
      const msgDirect: number[] = [];
      const msgForwarded: number[] = [];
      for (let i = 0; i < 2 * messages; i++) {
        const block = Math.floor(i / 25) % 2 === 0;
        (block ? msgDirect : msgForwarded).push(await (block ? directPair : forwardedPair).send());
      }
      await directPair.close();
      await forwardedPair.close();
      await disposeSdkClient(holder);

      ctx.log(`rooms started per second: ${roomsM} rooms on 1, 2, 3 nodes (alternating, 2 rounds)`);
      const rates: Record<1 | 2 | 3, number[]> = { 1: [], 2: [], 3: [] };
      for (let round_ = 0; round_ < 2; round_++) {
        for (const k of [1, 2, 3] as const) rates[k].push(await roomsPerSecond(cl, cl.nodes.slice(0, k), `r${round_}-k${k}`, roomsM, 10));
      }
      const cd = summarize(direct);
      const cf = summarize(forwarded);
      const md = summarize(msgDirect);
      const mf = summarize(msgForwarded);
      const r1 = median(rates[1]);
      const r2 = median(rates[2]);
      const r3 = median(rates[3]);
      return {
        rows: [
          row({ metric: "connect latency p50, via forwarding node (ms)", roomservice: round(cf.p50, 2), baseline: round(cd.p50, 2), unit: "ms", better: "lower", note: "baseline: direct to the owner" }),
          row({ metric: "connect latency p99, via forwarding node (ms)", roomservice: round(cf.p99, 2), baseline: round(cd.p99, 2), unit: "ms", better: "lower" }),
          row({ metric: "message latency p50, both clients forwarded (ms)", roomservice: round(mf.p50, 3), baseline: round(md.p50, 3), unit: "ms", better: "lower", note: "baseline: both clients on the owner" }),
          row({ metric: "message latency p99, both clients forwarded (ms)", roomservice: round(mf.p99, 3), baseline: round(md.p99, 3), unit: "ms", better: "lower" }),
          row({ metric: "rooms started/s, 2 nodes", roomservice: round(r2, 1), baseline: round(r1, 1), unit: "rooms/s", better: "higher", note: "baseline: 1 node; clients and all nodes share this machine's CPUs" }),
          row({ metric: "rooms started/s, 3 nodes", roomservice: round(r3, 1), baseline: round(r1, 1), unit: "rooms/s", better: "higher" }),
        ],
        details: {
          connectDirect: roundSummary(cd), connectForwarded: roundSummary(cf),
          messageDirect: roundSummary(md), messageForwarded: roundSummary(mf),
          roomsPerSecond: rates,
        },
      };
    } finally {
      await cl.close();
    }
  },
};
