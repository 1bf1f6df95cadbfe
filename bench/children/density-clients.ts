/**
 * Benchmark child: many idle participants, DC_PER_ROOM in each of DC_ROOMS rooms, opened
 * DC_CONCURRENCY at a time. Env: DC_KIND = sdk (@meshagent/meshagent RoomClient against
 * Roomservice) | raw (wire protocol over plain ws against Roomservice) | ws (plain ws
 * against the baseline server); DC_URL, DC_SECRET.
 *
 * A participant counts as connected when it can use the room: the SDK's start() resolved,
 * the raw client received `connected`, the plain socket is open.
 */
import { WebSocket } from "ws";
import { mintParticipantToken } from "@roomservice/server";
import { serve } from "../lib/rpc.ts";
import { summarize, roundSummary } from "../lib/stats.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { RawRoomClient } from "../lib/raw-client.ts";

const kind = process.env.DC_KIND as "sdk" | "raw" | "ws";
const url = process.env.DC_URL!;
const secret = process.env.DC_SECRET ?? "";
const rooms = Number(process.env.DC_ROOMS ?? 1000);
const perRoom = Number(process.env.DC_PER_ROOM ?? 2);
const concurrency = Number(process.env.DC_CONCURRENCY ?? 50);

const closers: (() => Promise<void> | void)[] = [];

async function open(room: string, identity: string, token: string): Promise<void> {
  if (kind === "sdk") {
    const c = await sdkClient(url, room, token);
    closers.push(() => disposeSdkClient(c, 200));
  } else if (kind === "raw") {
    const c = await RawRoomClient.connect(url, room, token);
    closers.push(() => c.close());
  } else {
    const ws = new WebSocket(`${url}/${room}/${identity}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    closers.push(() => ws.close());
  }
}

async function connect() {
  // Tokens are minted before the clock starts: that is client-side work.
  const jobs: { room: string; identity: string; token: string }[] = [];
  for (let r = 0; r < rooms; r++) {
    for (let p = 0; p < perRoom; p++) {
      const room = `density-${r}`;
      const identity = `p${p}`;
      const token = kind === "ws" ? "" : await mintParticipantToken(secret, { room, identity, role: "user", ttlSeconds: 3600 });
      jobs.push({ room, identity, token });
    }
  }
  const per: number[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const j = jobs[next++]!;
      const t = performance.now();
      try {
        await open(j.room, j.identity, j.token);
        per.push(performance.now() - t);
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - t0;
  return { kind, wallMs, connected: per.length, failed, firstError, perConnectionMs: roundSummary(summarize(per)), clientRssBytes: process.memoryUsage().rss };
}

serve(
  {
    connect,
    close: async () => {
      for (const c of closers.splice(0)) await c();
    },
  },
  { pid: process.pid },
);
