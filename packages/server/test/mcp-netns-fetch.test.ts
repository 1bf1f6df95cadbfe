/**
 * netnsFetch over a socket factory (here: plain loopback connections, standing in for the
 * room's NetnsConnector): requests and streamed responses, the 127.0.0.1-only rule, and the
 * cap on a POST's response size.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { netnsFetch } from "../src/mcp/netns-fetch.ts";

const loopback = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.pause();
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });

test("netnsFetch: bodies both ways, keep-alive reuse, only http://127.0.0.1, and a capped POST response", async (t) => {
  let connections = 0;
  const srv = http.createServer((req, res) => {
    if (req.url === "/big") return void res.end(Buffer.alloc(2048, 1));
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ method: req.method, body, auth: req.headers["x-api-key"] ?? null }));
    });
  });
  srv.on("connection", () => connections++);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  const { fetch: f, close } = netnsFetch(loopback, { maxResponseBytes: 1024 });
  t.after(() => {
    close();
    srv.closeAllConnections();
    srv.close();
  });

  const r1 = await f(`http://127.0.0.1:${port}/echo`, { method: "POST", body: "{\"a\":1}", headers: { "x-api-key": "k" } });
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get("content-type"), "application/json");
  assert.deepEqual(await r1.json(), { method: "POST", body: "{\"a\":1}", auth: "k" });
  const r2 = await f(`http://localhost:${port}/echo`);
  assert.deepEqual(await r2.json(), { method: "GET", body: "", auth: null });
  assert.equal(connections, 1, "the idle connection was reused");

  await assert.rejects(f("http://10.0.0.1:80/"), /only reaches http:\/\/127\.0\.0\.1/);
  await assert.rejects(f(`https://127.0.0.1:${port}/`), /only reaches/);

  // GET responses are not capped (the notification stream is long-lived); POST responses are.
  assert.equal((await (await f(`http://127.0.0.1:${port}/big`)).arrayBuffer()).byteLength, 2048);
  const big = await f(`http://127.0.0.1:${port}/big`, { method: "POST", body: "" });
  await assert.rejects(big.arrayBuffer(), /exceeded 1024 bytes/);
});
