import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliAsync } from "./helpers.ts";

test("serve --cluster without its database, shared directory or with bad values exits saying which flag", async (t) => {
  const home = await mkdtemp(join(tmpdir(), "rs-cli-cluster-"));
  t.after(() => rm(home, { recursive: true, force: true }));
  const base = ["serve", "--cluster", "--port", "0", "--runtime", "none", "--data", join(home, "data")];

  const noDb = await cliAsync(base, { cwd: home });
  assert.notEqual(noDb.code, 0);
  assert.match(noDb.err, /--cluster needs a PostgreSQL database: --database postgres:\/\/… or ROOMSERVICE_DATABASE_URL \(got none\)/);

  const sqlite = await cliAsync([...base, "--database", "file:x.db"], { cwd: home });
  assert.notEqual(sqlite.code, 0);
  assert.match(sqlite.err, /--cluster needs a PostgreSQL database.*got "file:x.db"/);

  const noShared = await cliAsync([...base, "--database", "postgres://u:secret@127.0.0.1:1/db"], { cwd: home });
  assert.notEqual(noShared.code, 0);
  assert.match(noShared.err, /--cluster needs --shared-dir DIR/);

  const badTtl = await cliAsync([...base, "--database", "postgres://u@127.0.0.1:1/db", "--shared-dir", home, "--lease-ttl", "1"], { cwd: home });
  assert.notEqual(badTtl.code, 0);
  assert.match(badTtl.err, /--lease-ttl/);

  const badUrl = await cliAsync([...base, "--database", "postgres://u@127.0.0.1:1/db", "--shared-dir", home, "--advertise-url", "10.0.0.1:8080"], { cwd: home });
  assert.notEqual(badUrl.code, 0);
  assert.match(badUrl.err, /--advertise-url: expected http:\/\/host:port, got "10.0.0.1:8080"/);
  for (const r of [noDb, sqlite, noShared, badTtl, badUrl]) assert.doesNotMatch(r.err, /secret@/, "a password in the URL is never echoed");
});
