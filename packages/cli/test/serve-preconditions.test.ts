import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliAsync } from "./helpers.ts";

test("serve on a port in use fails before creating the data directory", async (t) => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  t.after(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const parent = await mkdtemp(join(tmpdir(), "rs-serve-pre-"));
  t.after(() => rm(parent, { recursive: true, force: true }));
  const dataDir = join(parent, "new-data");
  const r = await cliAsync(["serve", "--port", String(port), "--host", "127.0.0.1", "--data", dataDir, "--no-demo"], { env: { ROOMSERVICE_RUNTIME: "none" } });
  assert.equal(r.code, 2, r.out + r.err);
  assert.match(r.err, new RegExp(`port ${port} is already in use; pick another with --port or ROOMSERVICE_PORT`));
  assert.equal(existsSync(dataDir), false, "the data directory was not created");

  // A later failure (a bad database URL) removes the directory this run created.
  const r2 = await cliAsync(["serve", "--port", "0", "--host", "127.0.0.1", "--data", dataDir, "--no-demo", "--database", "postgres://127.0.0.1:1/nothing"], { env: { ROOMSERVICE_RUNTIME: "none" } });
  assert.notEqual(r2.code, 0, r2.out + r2.err);
  assert.equal(existsSync(dataDir), false, `the data directory was removed: ${r2.err}`);
});
