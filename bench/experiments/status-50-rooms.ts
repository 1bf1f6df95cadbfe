/**
 * NOT PART OF THE SUITE. How many service state changes and status() reads the server makes
 * while N rooms (default 50) start at once with one service each and run for a few seconds,
 * and the CPU time (this thread's) spent building them: in status() and in the `state` listeners (Activity →
 * Studio JSON for the room stream, the MCP bridge). Sandbox runtime (root), services are a
 * host Node HTTP server with a liveness path (examples/http-echo), raw wire-protocol clients;
 * server in this process.
 *
 *   node bench/experiments/status-50-rooms.ts [N=50] [rounds=2]
 *
 * Two modes in alternating rounds on the same server: `clone` wraps status() to structuredClone
 * its result (what every status() did before perf round 3: the whole state, events included),
 * `snapshot` is the code as it is (frozen event lists shared, Studio's form cached per list).
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createSandboxRuntime } from "@roomservice/runtime";
import { ServiceSupervisor } from "../../packages/runtime/src/supervisor.ts";
import { mintParticipantToken, startRoomServer } from "@roomservice/server";
import { RawRoomClient } from "../lib/raw-client.ts";

const N = Number(process.argv[2] ?? 50);
const ROUNDS = Number(process.argv[3] ?? 2);
const SERVER = fileURLToPath(new URL("../../examples/http-echo/server.mjs", import.meta.url));

let mode: "clone" | "snapshot" = "snapshot";
const acc = { statusCalls: 0, statusUs: 0, stateEmits: 0, listenersUs: 0 };
/** This thread's CPU time in µs (not wall time: on a loaded machine the thread is preempted mid-call). */
const cpuNow = () => {
  const u = process.threadCpuUsage();
  return u.user + u.system;
};
const proto = ServiceSupervisor.prototype as unknown as { status(): unknown; emit(name: string, payload: unknown): void };
const status = proto.status;
proto.status = function (this: unknown) {
  const t = cpuNow();
  const st = status.call(this);
  const out = mode === "clone" ? structuredClone(st) : st;
  acc.statusUs += cpuNow() - t;
  acc.statusCalls++;
  return out;
};
const emit = proto.emit;
proto.emit = function (this: unknown, name: string, payload: unknown) {
  if (name !== "state") return emit.call(this, name, payload);
  const t = cpuNow();
  emit.call(this, name, payload);
  acc.listenersUs += cpuNow() - t;
  acc.stateEmits++;
};

const ownerId = `bench-status-${randomBytes(3).toString("hex")}`;
const logger = pino({ level: "silent" });
const dataDir = await mkdtemp(join(tmpdir(), "rs-status-50-"));
const runtime = await createSandboxRuntime({ ownerId, logger, poolSize: 2 });
const secret = randomBytes(24).toString("hex");
const server = await startRoomServer({ host: "127.0.0.1", port: 0, dataDir, secret, logger, runtime, departureTimeoutMs: 0 });
await server.services.create("default", null, "echo", {
  version: "v1", kind: "Service", metadata: { name: "echo" },
  container: { image: "host", command: `${process.execPath} ${SERVER}` },
  ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
}, Date.now());

const running = (room: string) => server.launcher.liveSession(room)?.services.every((s) => s.handle !== null && (s.handle as unknown as { st: { state: string } }).st.state === "running") === true;

try {
  for (let r = 0; r < ROUNDS * 2; r++) {
    mode = r % 2 === 0 ? "clone" : "snapshot";
    if (r >= 2 && r % 4 >= 2) mode = mode === "clone" ? "snapshot" : "clone"; // ABBA
    Object.assign(acc, { statusCalls: 0, statusUs: 0, stateEmits: 0, listenersUs: 0 });
    const rooms = Array.from({ length: N }, (_, i) => `st-${r}-${i}`);
    const tokens = await Promise.all(rooms.map((room) => mintParticipantToken(secret, { room, identity: "u", role: "user", ttlSeconds: 600 })));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const clients = await Promise.all(rooms.map((room, i) => RawRoomClient.connect(server.url, room, tokens[i]!, 120_000)));
    const deadline = Date.now() + 300_000;
    while (!rooms.every(running) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    const readyMs = performance.now() - t0;
    await new Promise((res) => setTimeout(res, 4000)); // running: the stats poller reads status() every 2 s
    for (const c of clients) c.close();
    while (rooms.some((room) => server.launcher.liveSession(room) !== undefined) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    const cpu = process.cpuUsage(cpu0);
    const ms = (us: number) => us / 1000;
    console.log(
      `round ${r + 1} ${mode.padEnd(8)}: ${N} rooms ready in ${(readyMs / 1000).toFixed(1)} s; state changes ${acc.stateEmits}, status() calls ${acc.statusCalls}; ` +
        `CPU in status() ${ms(acc.statusUs).toFixed(1)} ms, in state listeners ${ms(acc.listenersUs).toFixed(1)} ms, together ${ms(acc.statusUs + acc.listenersUs).toFixed(1)} ms ` +
        `of ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms process CPU (start, 4 s running, stop; the services' own CPU is not in it)`,
    );
  }
} finally {
  await server.close();
  await runtime.reapOrphans(ownerId);
  await runtime.close();
  await rm(dataDir, { recursive: true, force: true });
}
