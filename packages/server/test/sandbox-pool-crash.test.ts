/**
 * Issue 10 figure 4: the sandbox runtime's pooled namespaces never leak. A SIGKILLed
 * `roomservice serve` leaves its pooled namespaces behind (nothing can run at SIGKILL); its
 * helpers die with it, and the next start of the same data directory deletes the namespaces
 * before filling a new pool. A graceful stop leaves nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnServer, waitExit } from "./process.ts";
import { eventually } from "./helpers.ts";

/** Namespaces of the installation whose owner id is in `dataDir` (rs-<sha256(owner)[0..10]>-…). */
async function namespacesOf(dataDir: string): Promise<string[]> {
  const owner = (await readFile(join(dataDir, "owner-id"), "utf8")).trim();
  const prefix = `rs-${createHash("sha256").update(owner).digest("hex").slice(0, 10)}-`;
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(prefix)).sort();
}

/** Processes inside a named namespace. */
const pidsIn = (name: string) => execFileSync("ip", ["netns", "pids", name], { encoding: "utf8" }).split("\n").filter(Boolean);

test("a SIGKILLed server's pooled namespaces are gone after its next start; a graceful stop leaves none", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-sbxpool-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const env = { ROOMSERVICE_RUNTIME: "sandbox", ROOMSERVICE_ROOM_POOL: "2" };

  const first = await spawnServer(dataDir, env);
  t.after(() => first.child.kill("SIGKILL"));
  let before: string[] = [];
  // Ready = both namespaces exist and their probe helpers run inside them.
  await eventually(async () => {
    before = await namespacesOf(dataDir);
    return before.length === 2 && before.every((n) => pidsIn(n).length > 0);
  }, 20_000, "the pool to fill");
  first.child.kill("SIGKILL");
  await waitExit(first.child);
  assert.deepEqual(await namespacesOf(dataDir), before, "SIGKILL leaves the pooled namespaces (nothing runs at SIGKILL)");
  // The probe helpers notice their parent is gone and exit: nothing keeps running in them.
  await eventually(() => before.every((n) => pidsIn(n).length === 0), 10_000, "the killed run's helpers to exit");

  const second = await spawnServer(dataDir, env);
  t.after(() => second.child.kill("SIGKILL"));
  const now = await namespacesOf(dataDir);
  assert.deepEqual(now.filter((n) => before.includes(n)), [], "the next start deleted the killed run's namespaces");
  await eventually(async () => (await namespacesOf(dataDir)).length === 2, 20_000, "the new pool to fill");

  second.child.kill("SIGTERM");
  await waitExit(second.child);
  assert.deepEqual(await namespacesOf(dataDir), [], "a graceful stop removes the pool");
});
