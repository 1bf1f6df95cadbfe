import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli, serve } from "./helpers.ts";

const signIn = (url: string, code: string) =>
  fetch(`${url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ login: code }) });

test("login-link prints a new one-time Studio sign-in link that the running server accepts once", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const r = cli(["login-link"], { cwd: srv.home });
  assert.equal(r.code, 0, r.err);
  const m = /^Studio: (http:\/\/\S+)\/\?login=([\w-]+)\n$/.exec(r.out);
  assert.ok(m, r.out);
  assert.equal(m[1], srv.url, "the URL serve wrote into the access file");
  assert.equal((await signIn(srv.url, m[2]!)).status, 200);
  const again = await signIn(srv.url, m[2]!);
  assert.equal(again.status, 401, "works once");
  assert.match(((await again.json()) as { error: string }).error, /roomservice login-link/, "the used-link message says how to get a new one");
});

test("login-link without a data directory says where it looked", async (t) => {
  const empty = await mkdtemp(join(tmpdir(), "rs-nolink-"));
  t.after(() => rm(empty, { recursive: true, force: true }));
  const r = cli(["login-link"], { cwd: empty });
  assert.equal(r.code, 2);
  assert.match(r.err, /no Roomservice data directory at .*rs-nolink-.*\.roomservice/);
  assert.equal(r.out, "");
});
