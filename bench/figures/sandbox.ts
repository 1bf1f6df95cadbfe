/**
 * Issue #4 item 7 / issue #10 figure 4 — sandbox runtime cold start (no Docker): one HTTP
 * service from the host's filesystem (examples/http-echo with the host's node), ready when
 * /healthz answers. Target (issue #10): ≤ 1.2× the baseline.
 *
 *   Roomservice: in-process server on the sandbox runtime (ip netns + bubblewrap) with a pool
 *                of 2 ready namespaces (as `serve` runs by default), from the first
 *                participant's SDK connection to the service reported running. Between runs
 *                the pool refills (steady state of a server not starting rooms back to back).
 *   Baseline:    the same by hand: `ip netns add` + lo up, `nsenter --net bwrap … node
 *                server.mjs`, the port polled from inside the namespace with the same helper.
 */
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSandboxRuntime, HelperSpawnLimit, NetnsProber } from "@roomservice/runtime";
import { startRoomServer, mintParticipantToken } from "@roomservice/server";
import { row, type BenchContext, type Figure, type FigureResult } from "../lib/types.ts";
import { summarize, roundSummary, round } from "../lib/stats.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { quietLogger, waitUntil } from "../lib/docker-env.ts";
import { benchOwnerId } from "../lib/leftovers.ts";

const run = promisify(execFile);
const POOL = 2;
const SERVER = fileURLToPath(new URL("../../examples/http-echo/server.mjs", import.meta.url));

async function baseline(tag: string): Promise<number> {
  const name = `rs-bench-${tag}`;
  const t0 = performance.now();
  await run("ip", ["netns", "add", name]);
  try {
    await run("ip", ["-n", name, "link", "set", "lo", "up"]);
    const netns = `/run/netns/${name}`;
    const prober = new NetnsProber(netns, quietLogger, new HelperSpawnLimit());
    prober.warm();
    // A checkout under /tmp (CI clones there) must stay visible under the private /tmp.
    const appDirs = [process.execPath, SERVER].map((p) => /^\/tmp\/[^/]+/.exec(p)?.[0]).filter((d): d is string => d !== undefined);
    const binds = [...new Set(appDirs)].flatMap((d) => ["--ro-bind", d, d]);
    const child = spawn("nsenter", [`--net=${netns}`, "--", "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", ...binds,
      "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--", process.execPath, SERVER], { env: { PORT: "8080", PATH: process.env.PATH ?? "" }, stdio: "ignore" });
    let exited = false;
    child.once("exit", () => (exited = true));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await prober.check({ kind: "http", port: 8080, path: "/healthz" }, 1000);
      if (r.ok) break;
      if (exited || Date.now() > deadline) {
        prober.close();
        child.kill("SIGKILL");
        throw new Error(`baseline service did not answer (${exited ? "it exited" : "30 s"}): check bwrap and the node path`);
      }
      await new Promise((res) => setTimeout(res, 10));
    }
    const ms = performance.now() - t0;
    prober.close();
    child.kill("SIGKILL");
    await new Promise((res) => child.once("exit", res));
    return ms;
  } finally {
    await run("ip", ["netns", "del", name]).catch(() => undefined);
  }
}

export const sandbox: Figure = {
  name: "sandbox",
  title: "Sandbox runtime cold start (1 service) vs raw ip netns + bubblewrap",
  async run(ctx: BenchContext): Promise<FigureResult> {
    const reps = ctx.quick ? 3 : 20;
    const ownerId = benchOwnerId("sbx");
    let runtime;
    try {
      runtime = await createSandboxRuntime({ ownerId, logger: quietLogger, poolSize: POOL });
    } catch (err) {
      // Not a crash: this machine cannot run the sandbox (not root, no bwrap...). Say so.
      const why = (err as Error).message;
      return { rows: [row({ metric: `sandbox cold start — skipped: ${why}`, roomservice: null, unit: "ms", better: "lower" })], details: { skipped: why } };
    }
    const dataDir = await mkdtemp(join(tmpdir(), "rs-bench-sbx-"));
    const secret = randomBytes(24).toString("hex");
    const server = await startRoomServer({ dataDir, host: "127.0.0.1", port: 0, logger: quietLogger, secret, runtime, departureTimeoutMs: 0 });
    const rs: number[] = [];
    const base: number[] = [];
    try {
      for (let r = -1; r < reps; r++) {
        const room = `sbx-${r + 1}`;
        await server.services.create("default", room, "web", {
          version: "v1", kind: "Service", metadata: { name: "web" },
          container: { image: "host", command: `${process.execPath} ${SERVER}`, environment: [{ name: "PORT", value: "8080" }] },
          ports: [{ num: 8080, type: "http", liveness: "/healthz" }],
        }, Date.now());
        const token = await mintParticipantToken(secret, { room, identity: "bench", role: "user", ttlSeconds: 600 });
        const rt = runtime;
        await waitUntil("pool refilled", () => rt.pooled >= POOL, 30_000, 10);
        // Alternate which side goes first, so drift of the machine's load cancels out.
        const b0 = r % 2 === 1 ? await baseline(`${r + 1}a`) : null;
        const t0 = performance.now();
        const client = await sdkClient(server.url, room, token);
        await waitUntil("web running", async () => (await server.launcher.list(room)).service_states[0]?.state === "running", 30_000);
        const ms = performance.now() - t0;
        const stopped = new Promise((res) => server.launcher.stopped.once("stopped", res));
        await disposeSdkClient(client);
        await stopped;
        const b = b0 ?? (await baseline(`${r + 1}`));
        if (r >= 0) {
          rs.push(ms);
          base.push(b);
          ctx.log(`  run ${r + 1}/${reps}: roomservice ${ms.toFixed(0)} ms, baseline ${b.toFixed(0)} ms`);
        }
      }
    } finally {
      await server.close();
      await runtime.reapOrphans(ownerId);
      await rm(dataDir, { recursive: true, force: true });
    }
    const s = { rs: summarize(rs), base: summarize(base) };
    const ratio = s.rs.p50 / s.base.p50;
    return {
      rows: [row({
        metric: `sandbox cold start, median ms (p95 ${round(s.rs.p95, 3)} vs ${round(s.base.p95, 3)})`, roomservice: round(s.rs.p50), baseline: round(s.base.p50), unit: "ms", better: "lower",
        target: "≤ 1.2×", met: ratio <= 1.2, note: `pool of ${POOL} ready namespaces; runs alternate which side goes first`,
      })],
      details: { reps, pool: POOL, roomservice: roundSummary(s.rs), baseline: roundSummary(s.base), samples: { roomservice: rs.map((x) => round(x)), baseline: base.map((x) => round(x)) } },
    };
  },
};
