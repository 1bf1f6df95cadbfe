import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { forwardHttp } from "../src/cluster/forward.ts";

// Forwarding a live-room REST call to its owner (cluster/forward.ts), with real sockets: an
// owner that accepted the request but never answers (a frozen process) costs the client a
// bounded wait and a 504, while an owner that answered its head may take as long as it likes
// with the body (an SSE stream).

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

test("a forwarded request the owner accepted but never answers gets 504 once the bound passes; an answered head is never cut", { timeout: 60_000 }, async (t) => {
  const held: Socket[] = [];
  // Accepts and reads, never answers: what a SIGSTOPped owner looks like once the kernel accepted.
  const frozen = createNetServer((s) => {
    held.push(s);
    s.resume();
  });
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  // Answers the head at once and the body only when told (an SSE stream's events come later).
  const streaming = createHttpServer((req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.flushHeaders();
    void released.then(() => res.end("data: late\n\n"));
  });
  const frozenPort = await listen(frozen);
  const streamingPort = await listen(streaming);
  const front = createHttpServer((req, res) => {
    const owner = req.url === "/frozen" ? frozenPort : streamingPort;
    forwardHttp(req, res, `http://127.0.0.1:${owner}`, "front-node", { answerTimeoutMs: 300 });
  });
  const frontPort = await listen(front);
  t.after(() => {
    for (const s of held) s.destroy();
    frozen.close();
    streaming.closeAllConnections();
    streaming.close();
    front.closeAllConnections();
    front.close();
  });

  const r = await fetch(`http://127.0.0.1:${frontPort}/frozen`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(r.status, 504);
  assert.match(((await r.json()) as { error: string }).error, /did not answer: no response within 300 ms; retry/);
  assert.equal(held.length, 1, "the request did reach the owner");

  const s = await fetch(`http://127.0.0.1:${frontPort}/stream`);
  assert.equal(s.status, 200, "the head came through");
  // Longer than the bound before the body comes: the bound is on the head only.
  await new Promise((r) => setTimeout(r, 600));
  release();
  assert.equal(await s.text(), "data: late\n\n");
});
