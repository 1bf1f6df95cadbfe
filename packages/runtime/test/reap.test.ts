/**
 * reapOrphans: a server killed with SIGKILL leaves containers running and secret files on
 * tmpfs; the next run with the same owner removes them — and never touches live rooms or
 * other owners.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultSecretsRoot } from "../src/index.ts";
import { labelledContainers, setup, spec, waitFor, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

function runAndKill(ownerId: string): Promise<void> {
  const script = fileURLToPath(new URL("./fixtures/killed-run.ts", import.meta.url));
  const child = spawn(process.execPath, [script, ownerId], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (c: Buffer) => {
      if (c.toString().includes("READY")) {
        child.kill("SIGKILL");
      }
    });
    child.on("exit", (_code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`earlier run exited on its own (${signal ?? _code})`))));
  });
}

test("reapOrphans removes containers and secret files of a killed earlier run, sparing live rooms", async () => {
  // A live room of this runtime (same owner) must survive the reap.
  const live = await env.runtime.createRoomSandbox({ room: "reap-room", sessionId: "s-live" });
  try {
    const keep = live.startService(spec("keeper", "http.js", { env: { PORT: "9100" }, secretFiles: { K: "keep-this-one" } }));
    await waitFor("keeper running", () => keep.status().state === "running");

    await runAndKill(env.ownerId);
    const before = await labelledContainers(env);
    assert.equal(before.filter((c) => c.Labels["dev.roomservice.session"] === "s-killed").length, 2, "pause + service left running");
    const ownerDir = join(defaultSecretsRoot(), env.ownerId);
    assert.ok(readdirSync(ownerDir).includes("s-killed"));

    const r = await env.runtime.reapOrphans();
    assert.deepEqual(r, { containers: 2, networks: 0, files: 1 });
    const afterReap = await labelledContainers(env);
    assert.deepEqual(afterReap.map((c) => c.Labels["dev.roomservice.session"]).sort(), ["s-live", "s-live"]);
    assert.deepEqual(readdirSync(ownerDir), ["s-live"]);
    assert.equal(keep.status().state, "running");
    // Reaping again finds nothing.
    assert.deepEqual(await env.runtime.reapOrphans(), { containers: 0, networks: 0, files: 0 });
  } finally {
    await live.stop();
  }
  assert.deepEqual(await labelledContainers(env), []);
  await env.runtime.reapOrphans();
  assert.ok(!existsSync(join(defaultSecretsRoot(), env.ownerId)));
});
