import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPgServer } from "../../server/test/pg-server.ts";
import { cliAsync, serve } from "./helpers.ts";

test("serve and apikey with ROOMSERVICE_DATABASE_URL / --database share one PostgreSQL; nothing lands in roomservice.db", async (t) => {
  const pg = await startPgServer();
  t.after(() => pg.stop());
  const url = await pg.createDatabase();
  const s = await serve({ env: { ROOMSERVICE_DATABASE_URL: url } });
  t.after(() => s.stop());

  const made = await cliAsync(["apikey", "create", "ops", "--database", url], { cwd: s.home });
  assert.equal(made.code, 0, made.err);
  const key = made.out.trim();
  assert.match(key, /^rsk_/);
  // The running server verifies a key the CLI wrote to PostgreSQL, and lists its own local-cli key beside it.
  const res = await fetch(`${s.url}/accounts/projects/default/api-keys`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200);
  const names = ((await res.json()) as { keys: { name: string }[] }).keys.map((k) => k.name).sort();
  assert.deepEqual(names, ["local-cli", "ops"]);
  const listed = await cliAsync(["apikey", "list"], { cwd: s.home, env: { ROOMSERVICE_DATABASE_URL: url } });
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, /  ops  /);

  assert.equal(existsSync(join(s.dataDir, "roomservice.db")), false, "the control plane is not in the data directory");
  assert.equal(existsSync(join(s.dataDir, "queues.db")), true, "queues stay node-local");
});

test("serve --database with a bad URL or an unreachable server exits with what to do", async (t) => {
  const home = await mkdtemp(join(tmpdir(), "rs-cli-home-"));
  t.after(() => rm(home, { recursive: true, force: true }));
  const bad = await serve({ home, args: ["--database", "mysql://root:hunter2@db/x"] }).then(() => null, (err: Error) => err);
  assert.ok(bad !== null, "serve must not start");
  assert.match(bad.message, /exited with 2/);
  assert.match(bad.message, /--database: expected a URL like postgres:\/\/user:password@host:5432\/database, got "mysql:\/\/root:\*\*\*@db\/x"/);
  assert.doesNotMatch(bad.message, /hunter2/);
  const down = await serve({ home, env: { ROOMSERVICE_DATABASE_URL: "postgres://u@127.0.0.1:1/x" } }).then(() => null, (err: Error) => err);
  assert.ok(down !== null);
  assert.match(down.message, /cannot connect to PostgreSQL at 127\.0\.0\.1:1\/x \(from ROOMSERVICE_DATABASE_URL\).*Is PostgreSQL running/);
});
