import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { decodeJwt } from "jose";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cli, cliAsync, cleanEnv, repoRoot } from "./helpers.ts";

test("token prints an SDK-format JWT signed with the data directory's secret; bad options say what is wrong", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "project-secret"), "a-project-secret-of-enough-length\n", { mode: 0o600 });
  const r = cli(["token", "--room", "demo", "--identity", "alice", "--role", "agent", "--ttl", "15m", "--data", dir]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, new RegExp(`data directory: ${dir}`));
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
  // #12.30: a room name the server would refuse is refused here, not turned into a token.
  const badRoom = cli(["token", "--room", "Bad Room!", "--identity", "a", "--data", dir]);
  assert.equal(badRoom.code, 2);
  assert.match(badRoom.err, /--room: invalid room name "Bad Room!"/);
  assert.equal(badRoom.out, "");
});

test("#12.29: local-store commands never create a data directory; they say which one they used", async (t) => {
  const cwd = await mkdtemp(join(tmpdir(), "rs-cli-cwd-"));
  t.after(() => rm(cwd, { recursive: true, force: true }));
  // Run where no server ever ran: before, `token` generated a new project secret here and the
  // SDK later got "signature invalid" from the real server.
  const tok = cli(["token", "--room", "demo", "--identity", "alice"], { cwd });
  assert.equal(tok.code, 2);
  assert.match(tok.err, new RegExp(`no Roomservice data directory at ${join(cwd, ".roomservice")} \\(from the default ./.roomservice of the current directory; project-secret is missing\\)`));
  assert.match(tok.err, /--data DIR or ROOMSERVICE_DATA/);
  assert.equal(existsSync(join(cwd, ".roomservice")), false);

  const elsewhere = join(cwd, "nowhere");
  const key = cli(["apikey", "create"], { cwd, env: { ROOMSERVICE_DATA: elsewhere } });
  assert.equal(key.code, 2);
  assert.match(key.err, new RegExp(`no Roomservice data directory at ${elsewhere} \\(from ROOMSERVICE_DATA; roomservice.db is missing\\)`));
  assert.equal(existsSync(elsewhere), false);

  // With MESHAGENT_SECRET (what the server signs with when set) no directory is needed.
  const env = cli(["token", "--room", "demo", "--identity", "alice"], { cwd, env: { MESHAGENT_SECRET: "env-secret-of-enough-length" } });
  assert.equal(env.code, 0, env.err);
  assert.match(env.err, /signed with MESHAGENT_SECRET/);
  assert.equal(existsSync(join(cwd, ".roomservice")), false);
});

test("service validate and spec work offline; manifest warnings are shown", async (t) => {
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
  const schema = JSON.parse(cli(["service", "spec", "--json-schema"]).out);
  assert.ok(schema.properties.container && schema.properties.roomservice);

  const m = join(dir, "warn.yaml");
  await writeFile(m, "version: v1\nkind: Service\nmetadata:\n  name: web\ncontainer:\n  image: example/web:1\n  pull_secret: registry\n");
  const w = cli(["service", "validate", "-f", m]);
  assert.equal(w.code, 0, w.err);
  assert.match(w.err, /warning: .*pull_secret/);
});

test("#12.30: `test` is listed in --help, and `test --help` prints its help without running the suite", async (t) => {
  const help = cli(["--help"]);
  assert.equal(help.code, 0, help.err);
  assert.match(help.out, /^\s+test\s+run the whole test suite/m);

  // Through bin/roomservice, which is what runs the suite — a copy of it beside stub scripts,
  // so the test installs nothing and a suite that starts says so (exit 1, "SUITE RAN").
  const root = await mkdtemp(join(tmpdir(), "rs-cli-root-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, "bin"));
  await mkdir(join(root, "scripts"));
  await mkdir(join(root, "packages/cli"), { recursive: true });
  await copyFile(join(repoRoot, "bin/roomservice"), join(root, "bin/roomservice"));
  await writeFile(join(root, "scripts/ensure-node.sh"), "");
  await writeFile(join(root, "scripts/ensure-deps.sh"), "");
  await writeFile(join(root, "scripts/test.sh"), "echo SUITE RAN; exit 1\n");
  await symlink(join(repoRoot, "packages/cli/src"), join(root, "packages/cli/src"));
  const env = cleanEnv({ PATH: `${dirname(process.execPath)}:${process.env.PATH}` });
  for (const flag of ["--help", "-h"]) {
    const r = spawnSync("bash", [join(root, "bin/roomservice"), "test", flag], { encoding: "utf8", cwd: root, env, timeout: 120000 });
    assert.doesNotMatch(r.stdout, /SUITE RAN/);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: roomservice test/);
  }
  // And without --help, the suite does run.
  const run = spawnSync("bash", [join(root, "bin/roomservice"), "test"], { encoding: "utf8", cwd: root, env, timeout: 120000 });
  assert.match(run.stdout, /SUITE RAN/);
});

test("#7: a server that lacks a route (an older Roomservice) is named as such, not as a missing room", async (t) => {
  // Answers like Fastify's default 404, which is what a server predating the routes sends.
  const old = createServer((req, res) => {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: `Route ${req.method}:${req.url} not found`, error: "Not Found", statusCode: 404 }));
  });
  await new Promise<void>((r) => old.listen(0, "127.0.0.1", r));
  t.after(() => old.close());
  const url = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
  const r = await cliAsync(["room", "list", "--url", url, "--api-key", "rsk_x"]);
  assert.equal(r.code, 2);
  assert.equal(r.err, `roomservice: the server at ${url} has no GET /accounts/projects/default/rooms route (an older Roomservice?)\n`);
});
