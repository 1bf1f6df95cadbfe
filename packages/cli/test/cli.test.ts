import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeJwt } from "jose";

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));

function cli(args: string[], o: { input?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: "utf8", input: o.input ?? "", env: { ...process.env, MESHAGENT_SECRET: "", ...o.env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("token prints an SDK-format JWT; bad options say what is wrong", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const r = cli(["token", "--room", "demo", "--identity", "alice", "--role", "agent", "--ttl", "15m", "--data", dir]);
  assert.equal(r.code, 0, r.err);
  const claims = decodeJwt(r.out.trim()) as any;
  assert.equal(claims.name, "alice");
  assert.deepEqual(claims.grants.slice(0, 2), [{ name: "room", scope: "demo" }, { name: "role", scope: "agent" }]);
  assert.ok(claims.grants[2].scope.messaging && claims.grants[2].scope.storage);
  assert.equal(claims.exp - claims.iat, 900);
  assert.equal(claims.grants[2].scope.admin, undefined, "no admin grant by default");
  const admin = cli(["token", "--room", "demo", "--identity", "ops", "--admin", "--data", dir]);
  assert.equal(admin.code, 0, admin.err);
  const adminScope = (decodeJwt(admin.out.trim()) as any).grants[2].scope;
  assert.deepEqual(adminScope.admin, {}, "--admin adds the admin grant (services.restart)");
  assert.ok(adminScope.storage && adminScope.services, "on top of the role's defaults");

  const badRole = cli(["token", "--room", "demo", "--identity", "a", "--role", "admin", "--data", dir]);
  assert.equal(badRole.code, 2);
  assert.match(badRole.err, /--role: expected one of user, agent, tool, got "admin"/);
  const badTtl = cli(["token", "--room", "demo", "--identity", "a", "--ttl", "soon", "--data", dir]);
  assert.equal(badTtl.code, 2);
  assert.match(badTtl.err, /--ttl: invalid duration "soon"/);
  const missing = cli(["token", "--identity", "a", "--data", dir]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /--room/);
});

test("service validate/create/list/delete and secret set/list never print secret values", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const good = join(dir, "meshagent.yaml");
  await writeFile(good, "version: v1\nkind: Service\nmetadata:\n  name: web\ncontainer:\n  image: example/web:1\nports:\n  - num: 8080\n    liveness: /healthz\n");
  const bad = join(dir, "bad.yaml");
  await writeFile(bad, "version: v1\nkind: Service\nmetadata:\n  name: web\ncontainer:\n  imag: example/web:1\nports:\n  - num: 8078\n");

  assert.match(cli(["service", "validate", "-f", good]).out, /valid \(service "web"\)/);
  const v = cli(["service", "validate", "-f", bad]);
  assert.equal(v.code, 2);
  assert.match(v.err, /bad\.yaml:\d+:\d+: container\.imag/);
  assert.match(v.err, /ports\[0\]\.num/);
  assert.match(v.err, /container\.image/);

  const c = cli(["service", "create", "-f", good, "--room", "lobby", "--data", dir]);
  assert.equal(c.code, 0, c.err);
  assert.match(c.out, /created service web/);
  assert.match(cli(["service", "create", "-f", good, "--room", "lobby", "--data", dir]).err, /already exists/);
  assert.match(cli(["service", "create", "-f", good, "--data", dir]).err, /--room R .* or --global/);
  assert.match(cli(["service", "list", "--room", "lobby", "--data", dir]).out, /web\s+room=lobby\s+v1\s+image=example\/web:1/);
  assert.match(cli(["service", "update", "-f", good, "--room", "lobby", "--data", dir]).out, /version 2/);
  assert.match(cli(["service", "delete", "web", "--room", "lobby", "--data", dir]).out, /deleted service web/);

  const s = cli(["secret", "set", "api-key", "--data", dir], { input: "super-secret-value-42" });
  assert.equal(s.code, 0, s.err);
  assert.ok(!s.out.includes("super-secret-value-42"));
  const l = cli(["secret", "list", "--data", dir]);
  assert.match(l.out, /api-key/);
  assert.ok(!l.out.includes("super-secret-value-42"));
  assert.match(cli(["secret", "set", "bad name!", "--value", "x", "--data", dir]).err, /secret name "bad name!" is invalid/);
  assert.match(cli(["secret", "delete", "api-key", "--data", dir]).out, /deleted secret api-key/);

  const schema = JSON.parse(cli(["service", "spec", "--json-schema"]).out);
  assert.ok(schema.properties.container && schema.properties.roomservice);
});

test("room settings and history from the CLI; manifest warnings are shown", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const set = cli(["room", "set-departure-timeout", "lobby", "3", "--data", dir]);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /room lobby: departure timeout 3 s/);
  assert.match(cli(["room", "set-departure-timeout", "lobby", "soon", "--data", dir]).err, /<seconds>: expected an integer/);
  assert.match(cli(["room", "set-departure-timeout", "../x", "3", "--data", dir]).err, /invalid room name/);
  assert.equal(cli(["room", "sessions", "lobby", "--data", dir]).out, "");

  const m = join(dir, "warn.yaml");
  await writeFile(m, "version: v1\nkind: Service\nmetadata:\n  name: web\ncontainer:\n  image: example/web:1\n  pull_secret: registry\n");
  const v = cli(["service", "validate", "-f", m]);
  assert.equal(v.code, 0, v.err);
  assert.match(v.err, /warning: .*pull_secret/);
});
