/**
 * bench/lib/leftovers.ts: a benchmark runner killed mid-run leaves its runtime's containers
 * (pool, prepared rooms) under its own owner id; the next run reaps the owners whose runner is
 * gone, and leaves alone those of a runner still alive (another benchmark on the same daemon).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { DockerEngine, ensurePauseImage, LABEL, PAUSE_IMAGE } from "@roomservice/runtime";
import { benchOwnerDead, benchOwnerId, LEGACY_MAX_AGE_MS, reapDeadBenchRuns } from "../../../bench/lib/leftovers.ts";

/** The pid of a process that has exited (so no live process has it, barring reuse). */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString());
}

test("owner ids carry the runner's pid; a run is dead when that pid is gone, or (the figures' old ids) when older than an hour", () => {
  assert.match(benchOwnerId("cc"), new RegExp(`^bench-${process.pid}-cc-[0-9a-f]{6}$`));
  assert.equal(benchOwnerDead(benchOwnerId("cc"), 0), false, "this runner is alive");
  assert.equal(benchOwnerDead(`bench-${deadPid()}-cc-abcdef`, Date.now()), true);
  const now = Date.now();
  assert.equal(benchOwnerDead("bench-cc-0a1b2c3d", now - LEGACY_MAX_AGE_MS + 60_000, now), false, "an old-style id, recent: maybe a live run");
  assert.equal(benchOwnerDead("bench-cc-0a1b2c3d", now - LEGACY_MAX_AGE_MS - 60_000, now), true);
  assert.equal(benchOwnerDead("bench-memory-rs-server-0a1b2c", 0, now), true);
  assert.equal(benchOwnerDead("bench-heapdiff-docker-323a8a", 0, now), false, "someone's experiment, not a figure's: never");
  assert.equal(benchOwnerDead("rs-1234abcd", 0, now), false, "not a benchmark's");
});

test("a dead run's containers are reaped at the next run's start; a live run's are kept", async (t) => {
  const docker = new DockerEngine();
  if (!(await docker.ping())) return t.skip("no Docker daemon");
  t.after(() => docker.close());
  await ensurePauseImage(docker);
  const dead = `bench-${deadPid()}-test-${randomBytes(3).toString("hex")}`;
  const live = benchOwnerId("test");
  const make = async (owner: string) => {
    const { Id } = await docker.json<{ Id: string }>({
      method: "POST", path: "/containers/create",
      body: { Image: PAUSE_IMAGE, Labels: { [LABEL.owner]: owner, [LABEL.role]: "pause" }, HostConfig: { NetworkMode: "none", Init: true } },
    });
    await docker.json({ method: "POST", path: `/containers/${Id}/start` });
    return Id;
  };
  const deadId = await make(dead);
  const liveId = await make(live);
  t.after(() => Promise.all([deadId, liveId].map((id) => docker.json({ method: "DELETE", path: `/containers/${id}`, query: { force: 1 } }).catch(() => undefined))));
  const lines: string[] = [];
  // Only this test's owners: other helpers' containers on the shared daemon are not ours to remove.
  const reaped = await reapDeadBenchRuns((m) => lines.push(m), { only: (o) => o === dead || o === live });
  assert.ok(reaped.includes(dead), `reaped ${JSON.stringify(reaped)}; log ${lines.join(" | ")}`);
  assert.ok(!reaped.includes(live));
  const left = await docker.json<{ Id: string }[]>({ method: "GET", path: "/containers/json", query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.owner}=${dead}`] }) } });
  assert.deepEqual(left, [], "nothing of the dead run is left");
  const kept = await docker.json<{ Id: string }[]>({ method: "GET", path: "/containers/json", query: { filters: JSON.stringify({ label: [`${LABEL.owner}=${live}`] }) } });
  assert.deepEqual(kept.map((c) => c.Id), [liveId], "the live run's container still runs");
});
