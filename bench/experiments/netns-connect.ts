/**
 * NOT PART OF THE SUITE. Measures the ways the server can act as an HTTP client inside a
 * room's network namespace (for the MCP bridge), recorded in docs/decisions.md:
 *
 *   A. NetnsConnector: a helper in the namespace connects and passes the socket back (fd over IPC)
 *   B. relay: a helper in the namespace listens on a host unix socket and pipes bytes to 127.0.0.1
 *   0. baseline: the same HTTP server on the host's loopback
 *
 * For each: requests/s over keep-alive, a fresh connection per request, and a 64 MiB response.
 * Needs root (ip netns, nsenter).   node bench/experiments/netns-connect.ts
 */
import { execFileSync, spawn } from "node:child_process";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { HelperSpawnLimit, NetnsConnector } from "@roomservice/runtime";
import { netnsFetch } from "../../packages/server/src/mcp/netns-fetch.ts";

const N = 2000;
const BIG = 64 * 1024 * 1024;
const ns = `rs-bench-${randomBytes(3).toString("hex")}`;
const nsPath = `/run/netns/${ns}`;
const sock = `/tmp/${ns}.sock`;
const SERVER = `require("http").createServer((q,s)=>{if(q.url==="/big"){s.end(Buffer.alloc(${BIG}))}else{s.setHeader("content-length",2);s.end("ok")}}).listen(9000,"127.0.0.1")`;
const RELAY = `const net=require("net");net.createServer(c=>{const u=net.connect(9000,"127.0.0.1");c.pipe(u).pipe(c);u.on("error",()=>c.destroy());c.on("error",()=>u.destroy())}).listen(${JSON.stringify(sock)})`;

async function timeit(what: string, n: number, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 50; i++) await fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const ms = performance.now() - t0;
  console.log(`${what.padEnd(48)} ${(n / (ms / 1000)).toFixed(0).padStart(7)} req/s  ${((ms / n) * 1000).toFixed(0).padStart(6)} µs/req`);
}

async function big(what: string, fetchFn: (u: string) => Promise<Response>): Promise<void> {
  const t0 = performance.now();
  const r = await fetchFn("http://127.0.0.1:9000/big");
  const n = (await r.arrayBuffer()).byteLength;
  const s = (performance.now() - t0) / 1000;
  console.log(`${what.padEnd(48)} ${(n / s / 1024 / 1024).toFixed(0).padStart(7)} MiB/s`);
}

function get(agent: http.Agent | undefined, o: http.RequestOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = http.get({ ...o, agent }, (res) => {
      res.resume();
      res.on("end", resolve);
    });
    r.on("error", reject);
  });
}

execFileSync("ip", ["netns", "add", ns]);
execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
const procs = [
  spawn("nsenter", [`--net=${nsPath}`, "--", process.execPath, "-e", SERVER], { stdio: "inherit" }),
  spawn("nsenter", [`--net=${nsPath}`, "--", process.execPath, "-e", RELAY], { stdio: "inherit" }),
  spawn(process.execPath, ["-e", SERVER.replace("9000", "19000")], { stdio: "inherit" }),
];
try {
  await new Promise((r) => setTimeout(r, 1000));
  const log = pino({ level: "silent" });
  const connector = new NetnsConnector(nsPath, log, new HelperSpawnLimit());
  const viaConnector = netnsFetch((p) => connector.connect(p));
  const keep = new http.Agent({ keepAlive: true, maxSockets: 1 });

  console.log(`${N} sequential GETs of a 2-byte body; then one ${BIG >> 20} MiB response`);
  await timeit("0 host loopback, keep-alive", N, () => get(keep, { host: "127.0.0.1", port: 19000, path: "/" }));
  await timeit("0 host loopback, new connection each", N, () => get(undefined, { host: "127.0.0.1", port: 19000, path: "/" }));
  await timeit("A connector + netnsFetch, keep-alive", N, async () => (await viaConnector.fetch("http://127.0.0.1:9000/")).text());
  await timeit("A connector, new connection each", N, async () => {
    const s = await connector.connect(9000);
    s.resume();
    await get(undefined, { createConnection: () => s, path: "/", headers: { connection: "close" } });
  });
  await timeit("B relay over unix socket, keep-alive", N, () => get(keep, { socketPath: sock, path: "/" }));
  await timeit("B relay over unix socket, new connection each", N, () => get(undefined, { socketPath: sock, path: "/" }));
  await big("0 host loopback", (u) => fetch(u.replace("9000", "19000")));
  await big("A connector + netnsFetch", (u) => viaConnector.fetch(u));
  await big("B relay", (u) => new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: "/big" }, (res) => resolve(new Response(res as unknown as ReadableStream))).on("error", reject);
  }));
  viaConnector.close();
  connector.close();
  keep.destroy();
} finally {
  for (const p of procs) p.kill("SIGKILL");
  execFileSync("ip", ["netns", "del", ns]);
}
