/**
 * The sandbox runtime's own behaviours (bubblewrap + ip netns, no Docker): backoff, exec probe
 * timeouts. What every runtime must do (shared loopback, isolation, secrets as files, stop —
 * also of a wrapper's child —, reaping) is in the conformance suite (conformance-sandbox.test.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createSandboxRuntime, type SandboxRuntime, type ServiceLaunchSpec } from "../src/index.ts";
import { collectLogs, overlapRecordingProbe, probeRecord, spec as dockerSpec, testLogger, waitFor } from "./helpers.ts";

const APP = fileURLToPath(new URL("./fixtures/app", import.meta.url));
const ownerId = `test-${randomBytes(4).toString("hex")}`;
let rt: SandboxRuntime;

function spec(id: string, script: string, over: Partial<ServiceLaunchSpec> = {}): ServiceLaunchSpec {
  return dockerSpec(id, script, { image: "host", command: [process.execPath, `${APP}/${script}`], resources: {}, ...over });
}

before(async () => {
  rt = await createSandboxRuntime({ ownerId, logger: testLogger({ owner: ownerId }) });
});
after(async () => {
  await rt.reapOrphans();
  await rt.close();
});

test("a crashing sandboxed service backs off", async () => {
  const sb = await rt.createRoomSandbox({ room: "sbx-d", sessionId: "s4" });
  try {
    const h = sb.startService(spec("crash", "crash.js", { restart: { policy: "always", initialBackoffMs: 50, maxBackoffMs: 200, resetAfterMs: 60_000 } }));
    await waitFor("restarts", () => h.status().restart_count >= 2);
    assert.deepEqual(h.status().events.filter((e) => e.reason === "BackOff").map((e) => e.message).slice(0, 2), [
      "Back-off 50ms restarting failed container", "Back-off 100ms restarting failed container",
    ]);
  } finally {
    await sb.stop();
  }
});


test("issue 12 #21: in the sandbox a timed-out exec probe is killed before the next check; the event says timed out after 1 s", async () => {
  const sb = await rt.createRoomSandbox({ room: "sbx-f", sessionId: "s6" });
  const dir = await mkdtemp(join(tmpdir(), "rs-sbx-probe-"));
  try {
    // Each check records whether an earlier one still runs as it starts (helpers.ts): no sampling.
    const probe = { action: { kind: "exec" as const, command: overlapRecordingProbe(process.execPath, "/probe") }, initialDelayMs: 0, periodMs: 300, startIntervalMs: 300, timeoutMs: 1000, failureThreshold: 1, successThreshold: 1 };
    const h = sb.startService(spec("slow", "polite.js", { probes: { readiness: probe }, mounts: [{ hostPath: dir, containerPath: "/probe", readOnly: false }] }));
    await waitFor("the first timeout", () => h.status().events.find((e) => e.reason === "Unhealthy"), 30_000);
    await waitFor("four checks started", () => probeRecord(dir).started >= 4, 60_000);
    assert.equal(probeRecord(dir).overlaps, "", "at most one probe process at a time");
    assert.equal(h.status().events.find((e) => e.reason === "Unhealthy")?.message, "Readiness probe failed: timed out after 1 s");
  } finally {
    await sb.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
