import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { CpuMeter, SandboxStatsSampler, pidOfSandboxId, readProcessTree } from "../src/index.ts";

test("the sandbox's /proc sampler sums a process tree: a busy child's CPU and the parent's memory count, a gone process is null", async (t) => {
  // A parent that forks a busy child and holds 50 MiB itself: both count.
  const parent = spawn(process.execPath, ["-e", `
    const b = Buffer.alloc(50 * 1024 * 1024, 1);
    require("child_process").spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" });
    setInterval(() => b[0]++, 1000);
  `], { stdio: "ignore" });
  t.after(() => {
    try {
      process.kill(parent.pid!, "SIGKILL");
    } catch {}
  });
  const id = `bwrap-${parent.pid}`;
  assert.equal(pidOfSandboxId(id), parent.pid);
  assert.equal(pidOfSandboxId("c0ffee"), null);
  const sampler = new SandboxStatsSampler();
  await new Promise((r) => setTimeout(r, 500));
  const first = await sampler.sample(id);
  assert.ok(first !== null);
  assert.equal(first.cpuPercent, 0, "the first sample has nothing to compare with");
  await new Promise((r) => setTimeout(r, 1500));
  const second = (await sampler.sample(id))!;
  t.diagnostic(`cpu ${second.cpuPercent.toFixed(1)} %, rss ${(second.memoryBytes / 1048576).toFixed(1)} MiB`);
  // The machine may be loaded (no share of a core is guaranteed): check the sums, not a figure.
  assert.ok(second.cpuPercent > 0, `the busy tree uses CPU: ${second.cpuPercent}`);
  assert.ok(second.memoryBytes > 50 * 1024 * 1024, `the parent's buffer counts: ${second.memoryBytes}`);
  assert.equal(second.memoryLimitBytes, null, "the sandbox enforces no limit");
  const { readFileSync } = await import("node:fs");
  const childPid = Number(readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, "utf8").trim().split(/\s+/)[0]);
  const ticksOf = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(x[11]) + Number(x[12]);
  };
  const childTicks = ticksOf(childPid);
  const tree = readProcessTree(parent.pid!)!;
  assert.ok(childTicks > 0 && tree.ticks >= childTicks + ticksOf(parent.pid!) - 1, `tree ${tree.ticks} includes the child's ${childTicks} ticks`);

  // Kill the whole tree: the sample is null once the root is gone.
  process.kill(childPid, "SIGKILL");
  process.kill(parent.pid!, "SIGKILL");
  await new Promise((r) => parent.once("exit", r));
  assert.equal(await sampler.sample(id), null);
});

test("CpuMeter: percent of one core between readings, and a bounded number of containers tracked", () => {
  const m = new CpuMeter();
  assert.equal(m.percent("a", { cpuNs: 0, atNs: 0 }), 0);
  assert.equal(m.percent("a", { cpuNs: 1e9, atNs: 2e9 }), 50);
  assert.equal(m.percent("a", { cpuNs: 5e9, atNs: 3e9 }), 400, "four cores busy");
  assert.equal(m.percent("a", { cpuNs: 1e9, atNs: 4e9 }), 0, "a counter that went back (new container) starts over");
  for (let i = 0; i < 10_000; i++) m.percent(`c${i}`, { cpuNs: 0, atNs: 0 });
  assert.ok(m.size <= 4096, `tracked ${m.size}`);
});
