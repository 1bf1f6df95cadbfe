/**
 * NOT PART OF THE SUITE. Counts the fsync/fdatasync calls the server makes for participant
 * joins and leaves — a count, so unlike times it does not depend on the machine's load.
 * Each workload runs on a fresh `roomservice serve` (the real CLI, no runtime, departure
 * timeout 0) started under `strace -f --seccomp-bpf -c -e trace=fsync,fdatasync`; an idle
 * server (start, stop) is the baseline subtracted from every count.
 *
 *   one room:   N raw wire-protocol clients join one room (20 in flight), then all leave
 *   many rooms: N clients each join a room of their own, then leave (N sessions start and end);
 *               then once more in the same rooms (their storage is seeded on the first session)
 *
 *   node bench/experiments/participant-fsyncs.ts [N=200]
 *
 * To compare builds, run it on each (e.g. with the store files of an earlier commit checked
 * out); docs/benchmarks.md has the numbers.
 */
import { spawn, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintParticipantToken } from "@roomservice/server";
import { RawRoomClient } from "../lib/raw-client.ts";
import { ROOT_DIR } from "../lib/proc.ts";

const N = Number(process.argv[2] ?? 200);
const SECRET = "fsync-count-secret-0123456789abcdef";

async function withServer(fn: (url: string) => Promise<void>): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "rs-fsyncs-"));
  const out = join(dir, "strace.txt");
  const child = spawn("strace", ["-f", "--seccomp-bpf", "-c", "-e", "trace=fsync,fdatasync", "-o", out, process.execPath,
    join(ROOT_DIR, "packages/cli/src/main.ts"), "serve", "--port", "0", "--host", "127.0.0.1", "--data", join(dir, "data"), "--departure-timeout", "0"], {
    env: { ...process.env, MESHAGENT_SECRET: SECRET, ROOMSERVICE_RUNTIME: "none", ROOMSERVICE_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(() => reject(new Error(`server did not start: ${buf}`)), 30_000);
      child.stdout!.on("data", (d) => {
        buf += d;
        const m = /listening on (http:\/\/\S+)/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once("exit", (c) => reject(new Error(`server exited ${c}: ${buf}`)));
    });
    await fn(url);
    await new Promise((r) => setTimeout(r, 1500)); // sessions end, timers flush, WAL sync
  } finally {
    // strace's child is the server: stop it gracefully, strace then writes its summary.
    const pid = Number(execFileSync("pgrep", ["-P", String(child.pid)]).toString().trim().split("\n")[0]);
    process.kill(pid, "SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  const text = await readFile(out, "utf8");
  await rm(dir, { recursive: true, force: true });
  let calls = 0;
  for (const m of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/gm)) calls += Number(m[1]);
  return calls;
}

async function joinAndLeave(url: string, rooms: (i: number) => string): Promise<void> {
  const jobs = await Promise.all(Array.from({ length: N }, async (_, i) => ({ room: rooms(i), token: await mintParticipantToken(SECRET, { room: rooms(i), identity: `u${i}`, role: "user", ttlSeconds: 600 }) })));
  const clients: RawRoomClient[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next < jobs.length) {
      const j = jobs[next++]!;
      clients.push(await RawRoomClient.connect(url, j.room, j.token));
    }
  }));
  await new Promise((r) => setTimeout(r, 300));
  await Promise.all(clients.map((c) => new Promise<void>((resolve) => {
    c.ws.once("close", () => resolve());
    c.close();
  })));
}

const idle = await withServer(async () => undefined);
const one = await withServer((url) => joinAndLeave(url, () => "crowd"));
const many = await withServer((url) => joinAndLeave(url, (i) => `room-${i}`));
// A room's first session seeds its storage (.schemas/thread.json: two fsyncs); a second round
// in the same rooms shows the sessions' own cost.
const many2 = await withServer(async (url) => {
  await joinAndLeave(url, (i) => `room-${i}`);
  await new Promise((r) => setTimeout(r, 500));
  await joinAndLeave(url, (i) => `room-${i}`);
});
const per = (n: number) => (n / N).toFixed(2);
console.log(`fsync + fdatasync calls: idle server (start + stop) ${idle}`);
console.log(`  ${N} participants, one room, join + leave: ${one - idle} (${per(one - idle)} per participant)`);
console.log(`  ${N} participants, a room each, join + leave + session end, new rooms: ${many - idle} (${per(many - idle)} per participant)`);
console.log(`  ... the same again in those rooms (storage already seeded): ${many2 - many} (${per(many2 - many)} per participant)`);
