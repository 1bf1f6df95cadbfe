/**
 * Benchmark child: a sink that does nothing with what it receives (issue #10 figure 5, the
 * SDK's upload ceiling). WebSocket: counts the bytes of binary frames; a text frame "<n>" arms
 * it, and it answers "done <bytes>" once n bytes arrived. HTTP: reads and discards a request
 * body, answers its length. Reports its URL; answers `usage`.
 */
import http from "node:http";
import { WebSocketServer } from "ws";
import { serve, usage } from "../lib/rpc.ts";

const srv = http.createServer((req, res) => {
  let n = 0;
  req.on("data", (c: Buffer) => (n += c.length));
  req.on("end", () => res.end(String(n)));
});
const wss = new WebSocketServer({ server: srv, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on("connection", (ws) => {
  let n = 0;
  let want = Infinity;
  ws.on("message", (d: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      want = Number(String(d));
      n = 0;
      return;
    }
    n += d.length;
    if (n >= want) {
      ws.send(`done ${n}`);
      want = Infinity;
    }
  });
});
await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
const { port } = srv.address() as { port: number };
serve({ usage: (a: { gc?: boolean } | null) => usage(a?.gc === true), close: () => srv.close() }, { url: `http://127.0.0.1:${port}` });
