/**
 * The sandbox runtime's limit on where file mounts, empty dirs and room mounts can go: bwrap
 * must create a missing mount point, which it can on its own root, in /tmp and /run and in
 * empty dirs, but not inside a host directory it binds (that would write to the host). Such a
 * path fails the start with a message saying where to mount instead, and the host is left
 * untouched. What every runtime does with these mounts is in the conformance suite.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createSandboxRuntime, type SandboxRuntime, type ServiceLaunchSpec } from "../src/index.ts";
import { collectLogs, spec as dockerSpec, testLogger, waitFor } from "./helpers.ts";
import { unavailable } from "./conformance/harness.ts";

const APP = fileURLToPath(new URL("./fixtures/app", import.meta.url));
const ownerId = `test-${randomBytes(4).toString("hex")}`;
const why = unavailable("sandbox") ?? (process.getuid?.() !== 0 ? "the sandbox runtime needs root" : null);
let rt: SandboxRuntime;

function spec(id: string, over: Partial<ServiceLaunchSpec> = {}): ServiceLaunchSpec {
  return dockerSpec(id, "env.js", { image: "host", command: [process.execPath, `${APP}/env.js`], resources: {}, env: { SHOW: "X" }, ...over });
}

before(async () => {
  if (why === null) rt = await createSandboxRuntime({ ownerId, logger: testLogger({ owner: ownerId }) });
});
after(async () => {
  if (why !== null) return;
  await rt.reapOrphans();
  await rt.close();
});

test("a file mount whose mount point would have to be made in a host directory fails to start, saying where to mount instead; the host is untouched", { skip: why ?? false }, async () => {
  const sb = await rt.createRoomSandbox({ room: "sbx-files", sessionId: `s-${randomBytes(3).toString("hex")}` });
  const dir = `/etc/rs-no-such-dir-${randomBytes(3).toString("hex")}`;
  try {
    const h = sb.startService(spec("bad", { fileMounts: [{ containerPath: `${dir}/app.conf`, text: "x", readOnly: true }] }));
    await waitFor("failed", () => h.status().state === "failed");
    const err = h.status().last_start_error ?? "";
    assert.match(err, new RegExp(`cannot mount ${dir}/app.conf: it does not exist in the host's /etc, which the sandbox shares; choose a path in a new top-level directory`));
    assert.equal(existsSync(dir), false, "nothing was created on the host");
    // The same on a writable root, where bwrap would otherwise create it on the host.
    const w = sb.startService(spec("bad-rw", { writableRootFs: true, emptyDirs: [{ containerPath: `${dir}/scratch`, readOnly: false }] }));
    await waitFor("failed too", () => w.status().state === "failed");
    assert.equal(existsSync(dir), false, "nothing was created on the host");
    // Over an existing host file, in /tmp and in a new top-level directory: fine.
    const ok = sb.startService(spec("ok", {
      fileMounts: [{ containerPath: "/etc/hostname", text: "sandboxed\n", readOnly: true }, { containerPath: "/tmp/rs/a.txt", text: "a", readOnly: false }],
      emptyDirs: [{ containerPath: "/rs-top/scratch", readOnly: false }],
    }));
    const lines = collectLogs(ok);
    await waitFor("ok runs", () => lines.some((l) => l.line.startsWith("ENV ")));
  } finally {
    await sb.stop();
  }
});
