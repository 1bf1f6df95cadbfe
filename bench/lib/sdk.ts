/**
 * The unmodified @meshagent/meshagent SDK. Its ESM entry is CommonJS marked as ESM, so it is
 * loaded through require (as in the tests).
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const sdk: any = require("@meshagent/meshagent");

export function sdkVersion(): string {
  const p = require.resolve("@meshagent/meshagent/package.json");
  return (JSON.parse(readFileSync(p, "utf8")) as { version: string }).version;
}

/** A started SDK RoomClient for `room` (no reconnects: a benchmark fails loudly instead). */
export async function sdkClient(httpUrl: string, room: string, token: string): Promise<any> {
  const client = new sdk.RoomClient({
    protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${httpUrl.replace(/^http/, "ws")}/rooms/${room}`, token }),
    reconnectTimeout: 0,
  });
  await client.start();
  return client;
}

/**
 * SDK 0.39.9 rejects queued-but-unsent requests on dispose() before anything awaits them;
 * let in-flight requests settle first, then dispose.
 */
export async function disposeSdkClient(client: any, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (client._pendingRequests?.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  try {
    client.dispose();
  } catch {
    // already closed
  }
}

/** What happened to an SDK client's WebSocket: server pings seen, and how it closed (if it did). */
export interface SocketWatch {
  pings: number;
  close: { code: number; reason: string; atMs: number } | null;
}

/**
 * Watches the WebSocket under an SDK RoomClient (found by shape: the `ws` socket somewhere in
 * the client's protocol objects; the SDK exposes no close event of its own). For diagnosing
 * disconnects in figures: close 1006 = the TCP connection ended without a close frame.
 * Returns null when no socket was found (another SDK version).
 */
export function watchSocket(client: any): SocketWatch | null {
  const seen = new Set<unknown>();
  const queue: { v: any; depth: number }[] = [{ v: client, depth: 0 }];
  while (queue.length > 0) {
    const { v, depth } = queue.shift()!;
    if (v === null || typeof v !== "object" || seen.has(v)) continue;
    seen.add(v);
    if (typeof v.ping === "function" && typeof v.on === "function" && "readyState" in v) {
      const w: SocketWatch = { pings: 0, close: null };
      v.on("ping", () => w.pings++);
      v.on("close", (code: number, reason: Buffer) => (w.close = { code, reason: reason.toString(), atMs: performance.now() }));
      return w;
    }
    if (depth >= 4) continue;
    for (const k of Object.keys(v)) queue.push({ v: v[k], depth: depth + 1 });
  }
  return null;
}
