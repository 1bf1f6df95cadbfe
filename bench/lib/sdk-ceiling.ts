/**
 * The unmodified SDK's send path on its own (issue #10 figure 5): `data` sent as messages of
 * `messageBytes` through `WebSocketClientProtocol.send` — which cuts each into 1 KiB packets,
 * one WebSocket frame each (dist/node/protocol.js:410–428) — to a sink that only counts bytes
 * (bench/children/null-sink.ts), with at most 4 messages outstanding as storage.upload's pull
 * window allows. Resolves when the sink has every byte.
 */
import { sdk } from "./sdk.ts";

export async function sdkSendToSink(sinkUrl: string, data: Uint8Array, messageBytes: number): Promise<void> {
  const protocol = new sdk.WebSocketClientProtocol({ url: sinkUrl.replace(/^http/, "ws") + "/", token: "x" });
  protocol.start({ onMessage: () => undefined });
  await protocol.channel._opened.fut;
  const ws = protocol.channel.webSocket;
  // Wire bytes per message: one header frame (16 bytes + the type "x"), and 12 bytes of
  // header on every 1 KiB packet.
  let wire = 0;
  for (let off = 0; off < data.length; off += messageBytes) {
    const len = Math.min(messageBytes, data.length - off);
    wire += 17 + len + 12 * Math.ceil(len / 1024);
  }
  const finished = new Promise<void>((resolve) => {
    ws.addEventListener("message", (e: { data: unknown }) => {
      if (typeof e.data === "string" && e.data.startsWith("done")) resolve();
    });
  });
  ws.send(String(wire));
  try {
    const inFlight = new Set<Promise<void>>();
    for (let off = 0; off < data.length; off += messageBytes) {
      if (inFlight.size >= 4) await Promise.race(inFlight);
      const p: Promise<void> = protocol.send("x", data.subarray(off, Math.min(off + messageBytes, data.length))).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    await finished;
  } finally {
    protocol.close();
  }
}
