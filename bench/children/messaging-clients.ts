/**
 * Benchmark child: N participants in one room, all in this process, each both sender and
 * receiver. Env: MC_KIND = sdk (the @meshagent/meshagent SDK against Roomservice) | raw
 * (the wire protocol over plain ws against Roomservice) | ws (plain ws against the baseline
 * broadcast server); MC_URL, MC_SECRET, MC_ROOM, MC_N.
 *
 * Every message carries {s: sender, q: sequence, ts: performance.now() at send}; senders
 * and receivers share this process's clock, so latency = receive time − ts.
 */
import { WebSocket } from "ws";
import { mintParticipantToken } from "@roomservice/server";
import { serve, usage } from "../lib/rpc.ts";
import { summarize, roundSummary, type Summary } from "../lib/stats.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { RawRoomClient } from "../lib/raw-client.ts";

const kind = process.env.MC_KIND as "sdk" | "raw" | "ws";
const url = process.env.MC_URL!;
const secret = process.env.MC_SECRET ?? "";
const room = process.env.MC_ROOM ?? "bench-messaging";
const n = Number(process.env.MC_N ?? 50);

interface Peer {
  broadcast(s: number, q: number, ts: number): void;
  /** Remote participants this peer currently sees (messaging-enabled). */
  peers(): number;
  close(): Promise<void>;
}
type OnBench = (s: number, q: number, ts: number) => void;

let onBench: OnBench = () => undefined;
let sendErrors = 0;
let firstSendError: string | null = null;
const noteError = (err: unknown) => {
  sendErrors++;
  firstSendError ??= err instanceof Error ? err.message : String(err);
};

async function sdkPeer(i: number): Promise<Peer> {
  const token = await mintParticipantToken(secret, { room, identity: `p${i}`, role: "user", ttlSeconds: 3600 });
  const client = await sdkClient(url, room, token);
  client.messaging.on("message", (e: any) => {
    const m = e.message;
    if (m.type === "bench") onBench(m.message.s, m.message.q, m.message.ts);
  });
  client.messaging.enable();
  return {
    broadcast: (s, q, ts) => {
      client.messaging.broadcastMessage({ type: "bench", message: { s, q, ts } }).catch(noteError);
    },
    peers: () => client.messaging.getParticipants().length,
    close: () => disposeSdkClient(client),
  };
}

async function rawPeer(i: number): Promise<Peer> {
  const token = await mintParticipantToken(secret, { room, identity: `p${i}`, role: "user", ttlSeconds: 3600 });
  const c = await RawRoomClient.connect(url, room, token);
  const others = new Set<string>();
  c.on((type, header) => {
    if (type === "__response__") {
      if (header.type === "error") noteError(new Error(String(header.text)));
      return;
    }
    if (type !== "messaging.send") return;
    const t = header.type;
    const msg = header.message as any;
    if (t === "bench") onBench(msg.s, msg.q, msg.ts);
    else if (t === "messaging.enabled") for (const p of msg.participants as { id: string }[]) others.add(p.id);
    else if (t === "participant.enabled") others.add(msg.id);
    else if (t === "participant.disabled") others.delete(msg.id);
  });
  c.invoke("messaging", "enable", {});
  return {
    broadcast: (s, q, ts) => {
      c.invoke("messaging", "broadcast", { type: "bench", message_json: JSON.stringify({ s, q, ts }) });
    },
    peers: () => others.size,
    close: async () => c.close(),
  };
}

let wsConnected = 0;
async function wsPeer(): Promise<Peer> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  wsConnected++;
  ws.on("message", (data) => {
    const m = JSON.parse((data as Buffer).toString());
    if (m.type === "bench") onBench(m.message.s, m.message.q, m.message.ts);
  });
  return {
    broadcast: (s, q, ts) => ws.send(JSON.stringify({ type: "bench", message: { s, q, ts } })),
    // The baseline has no presence; everyone connected is a receiver.
    peers: () => wsConnected - 1,
    close: async () => ws.close(),
  };
}

let peers: Peer[] = [];

async function connect(): Promise<{ ms: number }> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) peers.push(kind === "sdk" ? await sdkPeer(i) : kind === "raw" ? await rawPeer(i) : await wsPeer());
  const deadline = Date.now() + 30_000;
  while (peers.some((p) => p.peers() !== n - 1)) {
    if (Date.now() > deadline) throw new Error(`participants did not all see each other: ${peers.map((p) => p.peers()).join(",")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { ms: performance.now() - t0 };
}

export interface RunResult {
  kind: string;
  mode: "rate" | "window";
  windowMs: number;
  /** Broadcasts sent whose send time fell in the measurement window. */
  sentInWindow: number;
  /** Deliveries (one per receiver) of those broadcasts. */
  delivered: number;
  expected: number;
  /** All deliveries of the run (warm-up and drain included) and how long it took. */
  deliveredTotal: number;
  elapsedMs: number;
  /** Deliveries received during the window, per second. */
  deliveriesPerSecond: number;
  latencyMs: Summary;
  /** Per second of the window: deliveries and latency percentiles (rate mode). */
  timeline: { second: number; n: number; p50: number; p99: number; max: number }[];
  /** Event-loop delay of this (client) process over the run. */
  clientLoopDelayMs: { p50: number; p99: number; max: number } | null;
  /** Worst lateness of the send scheduler (rate mode): shows whether this process kept up. */
  maxSchedulerLagMs: number;
  clientCpuUtilization: number;
  sendErrors: number;
  firstSendError: string | null;
}

/**
 * rate: `rate` broadcasts/s in total, round-robin over the senders, on a fixed schedule.
 * window: every sender keeps `window` broadcasts outstanding; a broadcast completes when all
 * N−1 receivers have it (the same flow control for SDK and baseline, independent of acks).
 */
async function run(a: { mode: "rate" | "window"; rate?: number; window?: number; warmupMs: number; durationMs: number; drainMs?: number }): Promise<RunResult> {
  const receivers = n - 1;
  const lat: number[] = [];
  const perSecond: number[][] = [];
  await usage(false); // resets the event-loop delay histogram
  let delivered = 0;
  let deliveredTotal = 0;
  let deliveredDuringWindow = 0;
  let sentInWindow = 0;
  let maxLag = 0;
  sendErrors = 0;
  firstSendError = null;
  const t0 = performance.now();
  const from = t0 + a.warmupMs;
  const to = from + a.durationMs;
  let cpuFrom: NodeJS.CpuUsage | null = null;
  let cpuTo: NodeJS.CpuUsage | null = null;
  const cpuTimers = [
    setTimeout(() => (cpuFrom = process.cpuUsage()), a.warmupMs),
    setTimeout(() => (cpuTo = process.cpuUsage(cpuFrom ?? undefined)), a.warmupMs + a.durationMs),
  ];
  const remaining = new Map<number, number>();
  const inflight = new Int32Array(n);
  let seq = 0;
  let stop = false;

  const send = (s: number) => {
    const q = seq++;
    const ts = performance.now();
    if (ts >= from && ts < to) sentInWindow++;
    remaining.set(q, receivers);
    inflight[s]!++;
    peers[s]!.broadcast(s, q, ts);
  };

  onBench = (s, q, ts) => {
    const now = performance.now();
    deliveredTotal++;
    if (now >= from && now < to) deliveredDuringWindow++;
    if (ts >= from && ts < to) {
      delivered++;
      lat.push(now - ts);
      (perSecond[Math.floor((ts - from) / 1000)] ??= []).push(now - ts);
    }
    const r = remaining.get(q);
    if (r === undefined) return;
    if (r > 1) {
      remaining.set(q, r - 1);
      return;
    }
    remaining.delete(q);
    inflight[s]!--;
    if (a.mode === "window" && !stop && now < to) send(s);
  };

  if (a.mode === "window") {
    const w = a.window ?? 4;
    for (let i = 0; i < w; i++) for (let s = 0; s < n; s++) send(s);
    await new Promise((r) => setTimeout(r, a.warmupMs + a.durationMs));
    stop = true;
  } else {
    const rate = a.rate ?? 1000;
    const total = Math.round((rate * (a.warmupMs + a.durationMs)) / 1000);
    let k = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1);
        while (k < due) {
          maxLag = Math.max(maxLag, now - (t0 + (k * 1000) / rate));
          send(k % n);
          k++;
        }
        if (k >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    stop = true;
  }
  // Let everything sent in the window arrive (bounded).
  const deadline = performance.now() + (a.drainMs ?? 10_000);
  while (remaining.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  for (const t of cpuTimers) clearTimeout(t);
  onBench = () => undefined;
  const cpu = cpuTo as NodeJS.CpuUsage | null;
  return {
    kind,
    mode: a.mode,
    windowMs: a.durationMs,
    sentInWindow,
    delivered,
    expected: sentInWindow * receivers,
    deliveredTotal,
    elapsedMs: performance.now() - t0,
    deliveriesPerSecond: deliveredDuringWindow / (a.durationMs / 1000),
    latencyMs: roundSummary(summarize(lat)),
    timeline: perSecond.map((xs, second) => {
      const s = roundSummary(summarize(xs), 3);
      return { second, n: s.n, p50: s.p50, p99: s.p99, max: s.max };
    }),
    clientLoopDelayMs: (await usage(false)).loopDelayMs,
    maxSchedulerLagMs: maxLag,
    clientCpuUtilization: cpu === null ? NaN : (cpu.user + cpu.system) / 1000 / a.durationMs,
    sendErrors,
    firstSendError,
  };
}

serve(
  {
    connect,
    run,
    close: async () => {
      for (const p of peers) await p.close();
      peers = [];
    },
  },
  { pid: process.pid },
);
