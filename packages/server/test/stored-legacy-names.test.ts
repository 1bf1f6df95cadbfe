/**
 * A database written by an older release can hold services whose names the current rules
 * refuse (service names became DNS labels; MCP labels toolkit names; agent and token names
 * participant names). Such a service keeps working as stored, nothing is renamed, and the
 * user is told: in the log at startup, in REST (`warnings`), in `roomservice service list`,
 * with the command that renames it — and `service rename` does. Anything else invalid still
 * fails its start with the located error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Store } from "../src/store/db.ts";
import { ServiceStore } from "../src/services/service-store.ts";
import { checkStoredManifest } from "../src/services/stored-manifest.ts";
import { runCli } from "./helpers.ts";
import { IMAGES, manifest, startServicesServer, waitUntil } from "./services-env.ts";

const OLD_NAME = "Bad Name! ☃ /x";

test("checkStoredManifest keeps names that only break newer rules, and nothing else", () => {
  const spec = manifest("Old Tools", "img:1", {
    agents: [{ name: " Old Tools" }],
    ports: [{ num: 9000, endpoints: [{ path: "/a", mcp: { label: "My Tools" } }, { path: "/b", mcp: { label: "dup" } }, { path: "/c", mcp: { label: "dup" } }] }],
  });
  const r = checkStoredManifest(spec);
  assert.ok(r.ok, JSON.stringify(r));
  // Kept exactly as stored, in the parsed manifest the launcher runs.
  assert.equal(r.manifest.metadata.name, "Old Tools");
  assert.equal(r.manifest.ports[0]!.endpoints[0]!.mcp!.label, "My Tools");
  assert.equal(r.manifest.agents![0]!.name, " Old Tools");
  assert.deepEqual(r.legacy.map((l) => l.path).sort(), ["agents[0].name", "metadata.name", "ports[0].endpoints[0].mcp.label", "ports[0].endpoints[2].mcp.label"]);
  assert.equal(r.legacy.find((l) => l.path === "metadata.name")!.message, "is not a valid name");
  // Not names: errors as before (the older rules refused them too, or the start would break).
  const bad = checkStoredManifest(manifest("Old Tools", "img:1", { ports: [{ num: 8078 }] }));
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.deepEqual(bad.errors.map((e) => e.path), ["metadata.name", "ports[0].num"], "every error, as validation gives them");
  const empty = checkStoredManifest(manifest("", "img:1"));
  assert.equal(empty.ok, false, "an empty name was never valid");
  assert.deepEqual(checkStoredManifest(manifest("fine", "img:1")), { ok: true, manifest: checkStoredManifestOk(manifest("fine", "img:1")), legacy: [] });
});

function checkStoredManifestOk(spec: Record<string, unknown>) {
  const r = checkStoredManifest(spec);
  assert.ok(r.ok);
  return r.manifest;
}

test("a service stored under a name now invalid keeps running; startup log, REST and the CLI say how to rename it; rename does", async (t) => {
  // The database as an older release left it: the row inserted through the store directly.
  const dataDir = await mkdtemp(join(tmpdir(), "rs-legacy-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const store = await Store.open({ sqliteFile: join(dataDir, "roomservice.db") });
  const rec = await new ServiceStore(store).create("default", "legacy", OLD_NAME, manifest(OLD_NAME, IMAGES.http), Date.now());
  await store.close();

  const env = await startServicesServer({ server: { dataDir, databaseUrl: "" } });
  t.after(() => env.close());
  const rename = `roomservice service rename ${rec.id} <new-name> --room legacy`;
  const logged = env.logs.map((l) => JSON.parse(l) as { level: number; msg: string; service?: string }).find((l) => l.service === rec.id && l.msg.startsWith("stored service"));
  assert.ok(logged !== undefined, "one warning at startup");
  assert.equal(logged.level, 40);
  assert.ok(logged.msg.includes(`metadata.name: ${JSON.stringify(OLD_NAME)} is not a valid name under the current rules`), logged.msg);
  assert.ok(logged.msg.includes(`rename it with: ${rename}`), logged.msg);

  // It still runs, under its stored name.
  const alice = await env.ts.client("legacy", "alice");
  const state = await waitUntil("the service running", async () => {
    const s = ((await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[]).find((x) => x.service_id === rec.id);
    return s?.state === "running" || s?.state === "failed" ? s : null;
  }, 60_000);
  assert.equal(state.state, "running", state.last_start_error);

  const key = (await env.ts.server.apiKeys.create("default", "ops", Date.now())).key;
  const get = async () => (await (await fetch(`${env.ts.url}/accounts/projects/default/rooms/legacy/services`, { headers: { authorization: `Bearer ${key}` } })).json()) as { services: any[] };
  const listed = (await get()).services.find((s) => s.id === rec.id);
  assert.equal(listed.metadata.name, OLD_NAME, "never renamed behind the user's back");
  assert.equal(listed.warnings.length, 1);
  assert.equal(listed.warnings[0].path, "metadata.name");
  assert.ok(listed.warnings[0].message.includes(rename), listed.warnings[0].message);

  const remote = ["--url", env.ts.url, "--api-key", key];
  const cliList = await runCli(["service", "list", ...remote]);
  assert.equal(cliList.code, 0, cliList.err);
  assert.ok(cliList.out.includes(OLD_NAME));
  assert.ok(cliList.err.includes(`warning: service ${OLD_NAME} (${rec.id}): metadata.name:`) && cliList.err.includes(rename), cliList.err);

  const refused = await runCli(["service", "rename", rec.id, "Still Bad", "--room", "legacy", ...remote]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.err, /not a valid service name: lowercase letters/);
  const renamed = await runCli(["service", "rename", rec.id, "web", "--room", "legacy", ...remote]);
  assert.equal(renamed.code, 0, renamed.err);
  assert.ok(renamed.out.includes(`renamed service ${JSON.stringify(OLD_NAME)} to web (id ${rec.id}, revision 2)`), renamed.out);
  const after = (await get()).services.find((s) => s.id === rec.id);
  assert.equal(after.metadata.name, "web");
  assert.equal(after.warnings, undefined);
  assert.equal((await env.ts.server.services.get(rec.id))!.name, "web");
  alice.dispose();
});
