/**
 * Issue 12 cases against real Docker: output read raw (no 16 KiB cuts, no U+FFFD, the tail
 * kept), multi-line secrets masked, timed-out exec probes killed, a manifest's shell command
 * shutting down on SIGTERM, a child's OOM kill reported, a taken port named, and a room's pause
 * container removed from outside noticed (live and pooled).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyzeCommand } from "@roomservice/manifest";
import { buildImage } from "../src/index.ts";
import { createDockerRuntime, LABEL, type DockerRuntime } from "../src/index.ts";
import { collectLogs, NODE, overlapRecordingProbe, probeRecord, setup, spec, testLogger, waitFor, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

const node = (code: string) => [NODE, "-e", code];

test("issue 12 #11: a 120 KB line of 3-byte characters arrives intact (no U+FFFD at 16 KiB cuts) and the unterminated tail is logged", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "utf8-room", sessionId: "s-utf8" });
  try {
    const h = sb.startService(spec("printer", "http.js", {
      command: node(`process.stdout.write("€".repeat(40000) + "\\nline1\\nTAIL")`),
    }));
    const lines = collectLogs(h);
    await waitFor("exited", () => h.status().state === "exited");
    await waitFor("the tail", () => lines.some((l) => l.line === "TAIL"));
    const text = lines.map((l) => l.line);
    assert.equal(text.slice(0, 2).join(""), "€".repeat(40000));
    assert.ok(text.slice(0, 2).every((l) => Buffer.byteLength(l) <= 64 * 1024));
    assert.deepEqual(text.slice(2), ["line1", "TAIL"]);
    assert.ok(text.every((l) => !l.includes("\ufffd")));
  } finally {
    await sb.stop();
  }
});

test("issue 12 #4: a 3-line PEM secret printed whole, and line by line, never appears in the log", async () => {
  const pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
  const sb = await env.runtime.createRoomSandbox({ room: "pem-room", sessionId: "s-pem" });
  try {
    const h = sb.startService(spec("pem", "http.js", {
      command: node(`const k = require("fs").readFileSync("/run/secrets/KEY", "utf8"); console.log("key:\\n" + k + "end"); for (const l of k.split("\\n")) console.error("line " + l);`),
      secretFiles: { KEY: pem },
    }));
    const lines = collectLogs(h);
    await waitFor("exited", () => h.status().state === "exited");
    await waitFor("the end line", () => lines.some((l) => l.line === "****end" || l.line === "end"));
    const all = lines.map((l) => l.line).join("\n");
    for (const secretLine of pem.trim().split("\n")) assert.ok(!all.includes(secretLine), `leaked: ${secretLine}\n${all}`);
    assert.ok(lines.some((l) => l.stream === "stdout" && l.line === "****end"), all);
    assert.equal(lines.filter((l) => l.stream === "stderr" && l.line === "line ****").length, 3, all);
  } finally {
    await sb.stop();
  }
});

test("issue 12 #21: a readiness exec probe that outlives its timeout is killed before the next check; the event says timed out after 1 s", async () => {
  // Each check records itself in a host directory when it starts, and first looks whether an
  // earlier check's process is still alive: an overlap is written down by the overlapping check
  // itself, at the moment it happens — no sampling of the container's processes, no timing.
  const dir = await mkdtemp(join(tmpdir(), "rs-probe-"));
  await chmod(dir, 0o777);
  const sb = await env.runtime.createRoomSandbox({ room: "exec-room", sessionId: "s-exec" });
  try {
    const probe = { action: { kind: "exec" as const, command: overlapRecordingProbe(NODE, "/probe") }, initialDelayMs: 0, periodMs: 300, startIntervalMs: 300, timeoutMs: 1000, failureThreshold: 1, successThreshold: 1 };
    const h = sb.startService(spec("slow", "polite.js", { probes: { readiness: probe }, mounts: [{ hostPath: dir, containerPath: "/probe", readOnly: false }] }));
    await waitFor("the first timeout", () => h.status().events.find((e) => e.reason === "Unhealthy"), 30_000);
    // The fourth check has looked at the three before it.
    await waitFor("four checks started", () => probeRecord(dir).started >= 4, 60_000);
    assert.equal(probeRecord(dir).overlaps, "", "at most one probe process at a time");
    const ev = h.status().events.find((e) => e.reason === "Unhealthy");
    assert.equal(ev?.message, "Readiness probe failed: timed out after 1 s");
  } finally {
    await sb.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

// The stop signal reaching a wrapper's child (with and without the launcher) is in the
// conformance suite (conformance/suite.ts), which runs it on every runtime.

test("issue 12 #23: a manifest's `cd /app && node polite.js` (run by /bin/sh -c) lets the program shut down on SIGTERM", async () => {
  // The test image plus the host's dash as /bin/sh (it needs only libc, which the node base has).
  const ctx = await mkdtemp(join(tmpdir(), "rs-sh-image-"));
  try {
    await copyFile("/usr/bin/dash", join(ctx, "sh"));
    await writeFile(join(ctx, "Dockerfile"), "FROM roomservice-test/app:1\nCOPY sh /bin/sh\n");
    await buildImage(env.runtime.docker, ctx, "roomservice-test/app-sh:1");
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
  const a = analyzeCommand("cd /app && /usr/local/bin/node polite.js");
  assert.equal(a?.kind, "shell");
  const sb = await env.runtime.createRoomSandbox({ room: "sh-room", sessionId: "s-sh" });
  try {
    const h = sb.startService(spec("shell", "polite.js", { image: "roomservice-test/app-sh:1", command: a!.kind === "shell" ? a!.argv : [], stop: { signal: "SIGTERM", gracePeriodMs: 10_000 } }));
    const lines = collectLogs(h);
    await waitFor("up", () => lines.some((l) => l.line === "polite up") || h.status().state === "failed");
    await h.stop();
    assert.ok(lines.some((l) => l.line === "polite got SIGTERM"), lines.map((l) => l.line).join("\n"));
    assert.deepEqual(h.lastExit(), { exitCode: 0, reason: "exit" }, "the program's own exit, not the shell's 143");
  } finally {
    await sb.stop();
  }
});

test("issue 12 #18: a child OOM-killed under the limit while the main process survives is an OOMKilled warning", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "oomchild-room", sessionId: "s-oomchild" });
  try {
    const h = sb.startService(spec("parent", "oomchild.js", { resources: { memoryBytes: 128 * 1024 * 1024, pidsLimit: 64 } }));
    const lines = collectLogs(h);
    await waitFor("the child died", () => lines.some((l) => l.line.startsWith("child ended")), 30_000);
    const ev = await waitFor("OOMKilled event", () => h.status().events.find((e) => e.reason === "OOMKilled"), 10_000);
    assert.equal(ev.type, "Warning");
    assert.equal(ev.message, "A process in the container was killed for exceeding the memory limit; the main process is still running");
    assert.equal(h.status().state, "running");
  } finally {
    await sb.stop();
  }
});

test("issue 12 #16: two services on one port: the loser's Exited and BackOff events say the port was taken and by whom", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "port-room", sessionId: "s-port" });
  try {
    const a = sb.startService(spec("first", "http.js", { env: { PORT: "9100" }, ports: [{ num: 9100, type: "http" }] }));
    await waitFor("first running", () => a.status().state === "running");
    const b = sb.startService(spec("second", "http.js", {
      env: { PORT: "9100" }, ports: [{ num: 9100, type: "http" }],
      restart: { policy: "on-failure", initialBackoffMs: 1000, maxBackoffMs: 1000, resetAfterMs: 60_000 },
    }));
    const exited = await waitFor("the loser exited", () => b.status().events.find((e) => e.reason === "Exited"));
    assert.match(exited.message, /^Container exited with code 1 \(port 9100 was already in use by service "first"\)$/);
    const backoff = await waitFor("backoff", () => b.status().events.find((e) => e.reason === "BackOff"));
    assert.equal(backoff.message, 'Back-off 1s restarting failed container (port 9100 was already in use by service "first")');
  } finally {
    await sb.stop();
  }
});

test("issue 12 #22: a pause container removed from outside is reported with a reason; later starts fail with it, not with 'No such container'", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "lost-room", sessionId: "s-lost" });
  try {
    const reasons: string[] = [];
    sb.onLost?.((r) => reasons.push(r));
    const h = sb.startService(spec("svc", "polite.js"));
    await waitFor("running", () => h.status().state === "running");
    const pauseId = (sb as unknown as { pauseId: string }).pauseId;
    await env.runtime.docker.json({ method: "DELETE", path: `/containers/${pauseId}`, query: { force: 1 } });
    await waitFor("lost reported", () => reasons.length > 0);
    assert.match(reasons[0], /^the room's pause container [0-9a-f]{12} \(its network namespace\) was (removed|stopped) from outside Roomservice$/);
    const late = sb.startService(spec("late", "polite.js"));
    await waitFor("late failed", () => late.status().state === "failed");
    assert.equal(late.status().last_start_error, reasons[0]);
  } finally {
    await sb.stop();
  }
});

test("issue 12 #22: a pooled pause container removed from outside is never handed out; a handed-out one is named after its room", async () => {
  const runtime: DockerRuntime = await createDockerRuntime({ ownerId: env.ownerId, logger: testLogger(), poolSize: 2 });
  try {
    runtime.prewarm();
    await waitFor("pool full", () => runtime.pooled === 2);
    const pooled = await runtime.docker.json<{ Id: string; Labels: Record<string, string> }[]>({
      method: "GET", path: "/containers/json", query: { filters: JSON.stringify({ label: [`${LABEL.owner}=${env.ownerId}`, LABEL.pool] }) },
    });
    assert.equal(pooled.length, 2);
    for (const p of pooled) await runtime.docker.json({ method: "DELETE", path: `/containers/${p.Id}`, query: { force: 1 } });
    const sb = await runtime.createRoomSandbox({ room: "pool-room", sessionId: "s-pool" });
    try {
      const h = sb.startService(spec("svc", "http.js", { env: { PORT: "9100" }, ports: [{ num: 9100, type: "http", livenessPath: "/healthz" }] }));
      await waitFor("running in a live namespace", () => h.status().state === "running");
      const info = await runtime.docker.json<{ Name: string }>({ method: "GET", path: `/containers/${(sb as unknown as { pauseId: string }).pauseId}/json` });
      assert.match(info.Name, /^\/rs-pool-room-pause-[0-9a-f]{6}$/);
      const svc = await runtime.docker.json<{ Config: { Labels: Record<string, string> } }>({ method: "GET", path: `/containers/${h.status().container_id}/json` });
      assert.equal(svc.Config.Labels[LABEL.pause], (sb as unknown as { pauseId: string }).pauseId);
    } finally {
      await sb.stop();
    }
  } finally {
    await runtime.close();
  }
});
