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
