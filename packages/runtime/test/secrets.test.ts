/**
 * Secret files: readable by their own service at /run/secrets/NAME (0400, read-only), never
 * in any container's `docker inspect`, masked in log lines, gone after the session.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { collectLogs, labelledContainers, setup, spec, waitFor, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

test("a secret file is readable in its service, absent from docker inspect, and masked in logs", async () => {
  const secret = "sk-live-7f3a9c1e5b2d";
  const sb = await env.runtime.createRoomSandbox({ room: "secret-room", sessionId: "s-secret" });
  let secretsDir = "";
  try {
    const svc = sb.startService(spec("integration", "secret.js", {
      env: { SECRET_NAME: "API_KEY" },
      secretFiles: { API_KEY: secret },
      secretValues: [secret],
    }));
    // Another service of the same room sees no secrets of its neighbour.
    const other = sb.startService(spec("other", "client.js", { env: { TRIES: "1" } }));
    const lines = collectLogs(svc);
    const printed = await waitFor("the secret line", () => lines.find((l) => l.line.startsWith("the key is")));
    assert.equal(printed.line, "the key is **** (mode 400, writable false)");
    assert.equal(printed.stream, "stdout");
    assert.equal(printed.serviceId, "integration");
    // The container really read the full value (only the log view is masked).
    await waitFor("length line", () => lines.find((l) => l.line === `SECRET_LEN ${secret.length}`));
    assert.ok(lines.every((l) => !l.line.includes(secret)));

    await waitFor("other running", () => other.status().state === "running");
    const containers = await labelledContainers(env);
    assert.equal(containers.length, 3); // pause + 2 services
    for (const c of containers) {
      const inspect = await env.runtime.docker.json({ method: "GET", path: `/containers/${c.Id}/json` });
      assert.ok(!JSON.stringify(inspect).includes(secret), `secret visible in docker inspect of ${c.Id}`);
    }
    const mounts = (await env.runtime.docker.json<{ Mounts: { Destination: string; Source: string; RW: boolean }[] }>({
      method: "GET", path: `/containers/${svc.status().container_id}/json`,
    })).Mounts;
    const m = mounts.find((x) => x.Destination === "/run/secrets");
    assert.ok(m && m.RW === false && m.Source.startsWith("/dev/shm/"));
    secretsDir = m.Source;
    assert.ok(existsSync(secretsDir));
  } finally {
    await sb.stop();
  }
  assert.ok(!existsSync(secretsDir), "secret files removed with the session");
});
