/**
 * Benchmark child: the baseline — a plain `ws` server on 127.0.0.1, port 0, that relays
 * every message to every other connected client. No framing, no JSON, no auth: the floor a
 * WebSocket broadcast server on Node can reach. Also used, idle, as the density baseline.
 */
import { once } from "node:events";
import { WebSocketServer, WebSocket } from "ws";
import { serve, usage } from "../lib/rpc.ts";

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
await once(wss, "listening");
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    for (const c of wss.clients) if (c !== ws && c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  });
});
const addr = wss.address() as { port: number };

serve(
  {
    usage: (a: { gc?: boolean } | null) => usage(a?.gc === true),
    connections: () => ({ connections: wss.clients.size }),
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  },
  { url: `ws://127.0.0.1:${addr.port}`, pid: process.pid },
);
