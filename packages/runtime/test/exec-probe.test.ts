/**
 * The Docker exec probe's timeout against the race dockerd has: it answers an attached exec
 * start before containerd has started the process, so a check can time out while the exec is
 * neither running nor ended. The check must wait for that process, kill it, and return only
 * once it has ended — else it runs on, unwatched, beside the next check's (the
 * hardening test's "at most one probe process" failure under load). Driven by a stand-in for
 * dockerd's exec API whose "process" is a real child process, started when the stand-in says.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { PassThrough } from "node:stream";
import { execProbe } from "../src/docker/exec-probe.ts";
import { testLogger } from "./helpers.ts";

/** dockerd's exec endpoints; the exec's process starts on the `startOnInspect`-th inspection. */
function fakeDocker(startOnInspect: number) {
  let inspections = 0;
  let child: ChildProcess | null = null;
  let exit: number | null = null;
  const api = {
    get child() {
      return child;
    },
    async json<T>(r: { method: string; path: string }): Promise<T> {
      if (r.method === "POST" && r.path.endsWith("/exec")) return { Id: "e1" } as T;
      if (r.method === "GET" && r.path === "/exec/e1/json") {
        inspections++;
        if (child === null && inspections >= startOnInspect) {
          // The exec's process, as containerd would start it: it never ends by itself.
          child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
          child.on("exit", (code, signal) => (exit = code ?? (signal === "SIGKILL" ? 137 : 1)));
          await new Promise((resolve) => child!.once("spawn", resolve));
        }
        if (child === null) return { Running: false, Pid: 0, ExitCode: null } as T;
        return (exit === null ? { Running: true, Pid: child.pid!, ExitCode: null } : { Running: false, Pid: child.pid!, ExitCode: exit }) as T;
      }
      throw new Error(`unexpected ${r.method} ${r.path}`);
    },
    // The attached start: answered at once, its stream open until the process ends.
    async raw(): Promise<PassThrough> {
      return new PassThrough();
    },
  };
  return api;
}

test("a check that times out before the exec's process exists waits for it, kills it, and returns once it has ended", async () => {
  const docker = fakeDocker(4);
  const r = await execProbe(docker as never, "c1", ["probe"], 30, testLogger());
  assert.deepEqual(r, { ok: false, error: "timed out after 0.03 s" });
  const child = docker.child;
  assert.ok(child !== null, "the check returned before the exec's process had started: it would run on unwatched");
  assert.equal(child.signalCode, "SIGKILL", "the process was killed, and had ended when the check returned");
});

test("a check whose process already runs at the timeout kills it the same way", async () => {
  const docker = fakeDocker(1);
  const r = await execProbe(docker as never, "c1", ["probe"], 30, testLogger());
  assert.equal(r.ok, false);
  assert.equal(docker.child?.signalCode, "SIGKILL");
});
