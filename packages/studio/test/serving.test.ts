import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { request } from "node:http";
import { startTestServer } from "../../server/test/helpers.ts";
import { ensureStudioBuilt } from "./build.ts";

ensureStudioBuilt();

/** Raw GET (node:http, so no automatic decompression and no path normalization). */
function get(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("the server serves Studio at / and every page route, assets cached and gzipped; API and WebSocket paths keep working", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());

  for (const path of ["/", "/rooms", "/rooms/demo", "/rooms/demo/sessions/s1", "/rooms/demo/services", "/rooms/demo/services/new", "/services", "/services/abc", "/secrets"]) {
    const r = await get(ts.url, path);
    assert.equal(r.status, 200, path);
    assert.match(String(r.headers["content-type"]), /text\/html/, path);
    assert.match(r.body.toString(), /<div id="root">/, path);
    assert.equal(r.headers["cache-control"], "no-cache", path);
    assert.match(String(r.headers["content-security-policy"]), /default-src 'self'/, path);
    assert.equal(r.headers["referrer-policy"], "no-referrer", path);
  }

  // The hashed bundle: long-lived cache, gzip when asked.
  const html = (await get(ts.url, "/")).body.toString();
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(script, "index.html references its bundle");
  const plain = await get(ts.url, script);
  assert.equal(plain.status, 200);
  assert.match(String(plain.headers["content-type"]), /javascript/);
  assert.match(String(plain.headers["cache-control"]), /immutable/);
  const zipped = await get(ts.url, script, { "accept-encoding": "gzip" });
  assert.equal(zipped.headers["content-encoding"], "gzip");
  assert.ok(zipped.body.length < plain.body.length);
  assert.deepEqual(gunzipSync(zipped.body), plain.body);

  // Nothing outside dist/ is reachable, and a missing asset is a 404, not the app.
  assert.equal((await get(ts.url, "/assets/..%2f..%2fpackage.json")).status, 404);
  assert.equal((await get(ts.url, "/assets/../../package.json")).status, 404);
  assert.equal((await get(ts.url, "/assets/nope.js")).status, 404);
  // Unknown paths stay API 404s (JSON), not the app.
  const unknown = await get(ts.url, "/nope/at/all");
  assert.equal(unknown.status, 404);
  assert.match(String(unknown.headers["content-type"]), /json/);

  // The storage download route is still the API route (403 without a token, JSON).
  const dl = await get(ts.url, "/rooms/demo/storage/download");
  assert.equal(dl.status, 403);
  assert.match(dl.body.toString(), /missing token/);

  // And /rooms/{room} is still the Room API WebSocket: the SDK connects and works.
  const client = await ts.client("demo", "alice");
  await client.storage.upload("hello.txt", new TextEncoder().encode("hi"), { overwrite: true });
  const entries = await client.storage.list("");
  assert.ok(entries.some((e: { name: string }) => e.name === "hello.txt"), JSON.stringify(entries.map((e: { name: string }) => e.name)));
});

test("without a build, page routes answer 503 saying how to build Studio", async (t) => {
  const empty = await mkdtemp(join(tmpdir(), "rs-studio-empty-"));
  const ts = await startTestServer({ studioDir: empty });
  t.after(async () => {
    await ts.close();
    await rm(empty, { recursive: true, force: true });
  });
  const r = await get(ts.url, "/rooms");
  assert.equal(r.status, 503);
  assert.match(r.body.toString(), /npm run build -w @roomservice\/studio/);
});
