/**
 * Container stats from cgroup files (docker/cgroup-stats.ts): the three layouts Docker
 * creates, read from fake trees; and, on this host's Docker, the cgroup reading agrees with the
 * Engine API's stats for a running container with a memory limit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { CgroupStatsReader } from "../src/docker/cgroup-stats.ts";
import { DockerEngine, DockerStatsSampler, ensurePauseImage, LABEL, PAUSE_IMAGE } from "../src/index.ts";

const ID = "ab".repeat(32);

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "rs-cgroup-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test("cgroup v1 (cgroupfs): cpuacct.usage, usage minus total_inactive_file, the 'no limit' value is null", (t) => {
  const root = tree({
    [`cpuacct/docker/${ID}/cpuacct.usage`]: "1500000000\n",
    [`memory/docker/${ID}/memory.usage_in_bytes`]: "10485760\n",
    [`memory/docker/${ID}/memory.stat`]: "cache 4096\ninactive_file 1\ntotal_inactive_file 2097152\n",
    [`memory/docker/${ID}/memory.limit_in_bytes`]: "9223372036854771712\n",
  });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const r = new CgroupStatsReader(root);
  assert.deepEqual(r.read(ID), { cpuNs: 1.5e9, memoryBytes: 8 * 1048576, memoryLimitBytes: null });
  writeFileSync(join(root, `memory/docker/${ID}/memory.limit_in_bytes`), "67108864\n");
  assert.equal(r.read(ID)?.memoryLimitBytes, 64 * 1048576);
  assert.equal(r.read("cd".repeat(32)), null, "another container: not found");
  assert.equal(r.read("../../etc"), null, "only full container ids are looked up");
});

test("cgroup v2 (systemd and cgroupfs drivers): cpu.stat usage_usec, memory.current minus inactive_file, memory.max", (t) => {
  for (const dir of [`system.slice/docker-${ID}.scope`, `docker/${ID}`]) {
    const root = tree({
      [`${dir}/cpu.stat`]: "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
      [`${dir}/memory.current`]: "3145728\n",
      [`${dir}/memory.stat`]: "anon 100\nactive_file 5\ninactive_file 1048576\n",
      [`${dir}/memory.max`]: "max\n",
    });
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const r = new CgroupStatsReader(root);
    assert.deepEqual(r.read(ID), { cpuNs: 2.5e6, memoryBytes: 2 * 1048576, memoryLimitBytes: null }, dir);
    writeFileSync(join(root, dir, "memory.max"), "134217728\n");
    assert.equal(r.read(ID)?.memoryLimitBytes, 128 * 1048576, dir);
  }
});

test("a host where no layout matches: null (the caller asks the Engine API), and it stops looking", (t) => {
  const root = tree({ "unrelated/file": "x" });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const r = new CgroupStatsReader(root);
  for (let i = 0; i < 5; i++) assert.equal(r.read(ID), null);
});

test("on this host's Docker, the cgroup reading matches the Engine API's stats for a running container", async (t) => {
  const docker = new DockerEngine();
  if (!(await docker.ping())) return t.skip("no Docker daemon");
  t.after(() => docker.close());
  await ensurePauseImage(docker);
  const owner = `test-stats-${randomBytes(4).toString("hex")}`;
  const { Id } = await docker.json<{ Id: string }>({
    method: "POST", path: "/containers/create",
    body: { Image: PAUSE_IMAGE, Labels: { [LABEL.owner]: owner }, HostConfig: { NetworkMode: "none", Init: true, Memory: 64 * 1048576, MemorySwap: 64 * 1048576 } },
  });
  t.after(() => docker.json({ method: "DELETE", path: `/containers/${Id}`, query: { force: 1 } }).catch(() => undefined));
  await docker.json({ method: "POST", path: `/containers/${Id}/start` });
  const local = new CgroupStatsReader().read(Id);
  if (local === null) return t.skip("this Docker's cgroups are not visible under /sys/fs/cgroup (remote or rootless daemon)");
  assert.equal(local.memoryLimitBytes, 64 * 1048576);
  assert.ok(local.cpuNs > 0, "the container's processes used some CPU");
  // The API's reading (a sampler that never finds cgroup files) agrees on the limit, and on memory within 1 MiB.
  const api = await new DockerStatsSampler(docker, new CgroupStatsReader(mkdtempSync(join(tmpdir(), "rs-no-cgroup-")))).sample(Id);
  assert.ok(api !== null);
  assert.equal(api.memoryLimitBytes, 64 * 1048576);
  assert.ok(Math.abs(api.memoryBytes - local.memoryBytes) < 1048576, `api ${api.memoryBytes} vs cgroup ${local.memoryBytes}`);
  // The default sampler takes the cgroup path here: the same limit, and 0 % CPU on a first sample.
  const s = await new DockerStatsSampler(docker).sample(Id);
  assert.deepEqual({ cpu: s?.cpuPercent, limit: s?.memoryLimitBytes }, { cpu: 0, limit: 64 * 1048576 });
  await docker.json({ method: "DELETE", path: `/containers/${Id}`, query: { force: 1 } });
  assert.equal(await new DockerStatsSampler(docker).sample(Id), null, "a removed container has no stats");
});
