import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createSandboxRuntime, defaultSecretsRoot, safeName } from "@roomservice/runtime";
import { collectMessages, eventually, settle, startTestServer } from "./helpers.ts";
import { waitUntil } from "./services-env.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const SECRET = "sandbox-api-key-5e8c2a71d9";

const hostService = (name: string, script: string, extra: Record<string, unknown> = {}) => {
  const { container, ...rest } = extra as { container?: Record<string, unknown> };
  return {
    version: "v1", kind: "Service", metadata: { name },
    container: { image: "host", command: `${process.execPath} ${join(root, "examples", script)}`, ...(container ?? {}) },
    ...rest,
  };
};

function inNetns(netns: string, code: string): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn("nsenter", [`--net=${netns}`, process.execPath, "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.on("close", () => resolve(out.trim()));
  });
}

test("sandbox runtime: lifecycle, the SDK agent, secrets and logs work without Docker", async (t) => {
  const ownerId = `test-sbx-${randomBytes(4).toString("hex")}`;
  const logs: string[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void logs.push(s) });
  const runtime = await createSandboxRuntime({ ownerId, logger });
  const ts = await startTestServer({ runtime, logger, departureTimeoutMs: 300 });
  t.after(async () => {
    await ts.close();
    await runtime.reapOrphans(ownerId);
  });
  await ts.server.secrets.set("default", null, "api-key", "opaque", Buffer.from(SECRET), Date.now());
  const add = async (m: Record<string, unknown>) => (await ts.server.services.create("default", "sbx", (m.metadata as { name: string }).name, m, Date.now())).id;
  await add(hostService("agent", "chat-agent/agent.mjs"));
  await add(hostService("web", "http-echo/server.mjs", { container: { environment: [{ name: "PORT", value: "8080" }] }, ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));
  await add(hostService("reader", "secret-reader/reader.mjs", {
    container: { environment: [{ name: "API_KEY", secret: { id: "api-key" } }, { name: "PORT", value: "8081" }] },
    ports: [{ num: 8081, type: "http", liveness: "/" }],
  }));

  const alice = await ts.client("sbx", "alice");
  const box = collectMessages(alice);
  alice.messaging.enable();
  const devLines: string[] = [];
  void (async () => {
    for await (const e of alice.developer.logs()) if (e.type === "service.log") devLines.push(JSON.stringify(e.data));
  })().catch(() => undefined);

  await eventually(() => box.messages.some((m) => m.message?.text === "hello from sbx"), 30_000, "the sandboxed agent's greeting");
  await waitUntil("all running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st.length === 3 && st.every((s) => s.state === "running");
  });

  // Services share the room's loopback with the Room API.
  const netns = ts.server.launcher.netnsPath("sbx")!;
  assert.match(await inNetns(netns, "fetch('http://127.0.0.1:8080/roomapi').then(r=>r.text()).then(console.log)"), /room api: 200/);
  const seen = JSON.parse(await inNetns(netns, "fetch('http://127.0.0.1:8081/').then(r=>r.text()).then(console.log)"));
  assert.equal(seen.file, SECRET);
  assert.equal(seen.env, SECRET);
  assert.deepEqual(seen.files, ["API_KEY"]);

  // Printed secrets are masked everywhere.
  await waitUntil("masked line", () => devLines.some((l) => l.includes("API_KEY from env is ****")), 15_000);
  assert.ok(!logs.join("").includes(SECRET), "server logs");
  assert.ok(!devLines.join("").includes(SECRET), "developer logs");

  // Session end: processes, namespace and secret files go.
  const ended = new Promise((r) => ts.server.rooms.events.on("event", (e) => e.type === "session.ended" && r(e)));
  await settle(alice);
  alice.dispose();
  await ended;
  await waitUntil("netns removed", () => !existsSync(netns), 15_000);
  const secretsDir = join(defaultSecretsRoot(), safeName(ownerId));
  await waitUntil("secret files removed", async () => !existsSync(secretsDir) || (await readdir(secretsDir)).length === 0, 15_000);
  const procs = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes("examples/chat-agent/agent.mjs") && !l.includes("ps -eo"));
  assert.deepEqual(procs, [], "no service process survives the session");
});
