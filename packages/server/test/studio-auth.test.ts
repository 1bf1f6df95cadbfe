import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "./helpers.ts";
import { systemClock } from "../src/index.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SharedBrowserSessions } from "../src/auth/shared-browser-sessions.ts";

/** A clock whose wall time can be moved forward (timers still run in real time). */
function movableClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, setTimeout: systemClock.setTimeout, advance: (ms: number) => (offset += ms) };
}

const cookieOf = (res: Response): string => {
  const c = res.headers.get("set-cookie") ?? "";
  return c.split(";")[0]!;
};

/** Response bodies are whatever JSON the route answers. */
const anyJson = (v: unknown): any => v;

test("sign in with an API key: HttpOnly SameSite=Strict cookie, cookie auth on REST routes, CSRF required for writes, sign out", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const key = (await ts.server.apiKeys.create("default", "studio", Date.now())).key;

  const bad = await fetch(`${ts.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ api_key: "rsk_00000000000000000000000000000000_nope" }) });
  assert.equal(bad.status, 401);
  assert.equal((await bad.json().then(anyJson)).code, "unauthenticated");

  const res = await fetch(`${ts.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ api_key: key }) });
  assert.equal(res.status, 200);
  const setCookie = res.headers.get("set-cookie")!;
  assert.match(setCookie, /^rs_session=[A-Za-z0-9_-]{40,};/);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.match(setCookie, /Path=\//);
  const body = await res.json().then(anyJson);
  assert.equal(body.identity, "apikey:studio");
  assert.equal(body.participant_name, "studio", "the name it has in rooms (what /connect's token carries)");
  assert.equal(body.project_id, "default");
  assert.ok(typeof body.csrf_token === "string" && body.csrf_token.length >= 20);
  assert.ok(!JSON.stringify(body).includes(key), "the API key never comes back");
  const cookie = cookieOf(res);

  const who = await fetch(`${ts.url}/auth/session`, { headers: { cookie } });
  assert.deepEqual(await who.json().then(anyJson), body);

  // Reads with the cookie alone.
  const list = await fetch(`${ts.url}/accounts/projects/default/services`, { headers: { cookie } });
  assert.equal(list.status, 200);
  assert.deepEqual(await list.json().then(anyJson), { services: [] });

  // Writes need the CSRF header too.
  const manifest = { version: "v1", kind: "Service", metadata: { name: "web" }, container: { image: "x/y:1" } };
  const noCsrf = await fetch(`${ts.url}/accounts/projects/default/services`, { method: "POST", headers: { cookie, "content-type": "application/json" }, body: JSON.stringify(manifest) });
  assert.equal(noCsrf.status, 403);
  assert.equal((await noCsrf.json().then(anyJson)).code, "csrf");
  const wrongCsrf = await fetch(`${ts.url}/accounts/projects/default/services`, { method: "POST", headers: { cookie, "x-csrf-token": "nope", "content-type": "application/json" }, body: JSON.stringify(manifest) });
  assert.equal(wrongCsrf.status, 403);
  assert.equal((await ts.server.services.list("default", null)).length, 0, "nothing was created without the CSRF token");
  const ok = await fetch(`${ts.url}/accounts/projects/default/services`, { method: "POST", headers: { cookie, "x-csrf-token": body.csrf_token, "content-type": "application/json" }, body: JSON.stringify(manifest) });
  assert.equal(ok.status, 201);

  // Sign out (a write: CSRF too); the cookie no longer works.
  assert.equal((await fetch(`${ts.url}/auth/session`, { method: "DELETE", headers: { cookie } })).status, 403);
  const out = await fetch(`${ts.url}/auth/session`, { method: "DELETE", headers: { cookie, "x-csrf-token": body.csrf_token } });
  assert.equal(out.status, 204);
  assert.match(out.headers.get("set-cookie")!, /rs_session=;.*Max-Age=0/);
  assert.equal((await fetch(`${ts.url}/auth/session`, { headers: { cookie } })).status, 401);
  const after = await fetch(`${ts.url}/accounts/projects/default/services`, { headers: { cookie } });
  assert.equal(after.status, 401);
  assert.equal((await after.json().then(anyJson)).code, "unauthenticated");
});

test("a browser session dies with the API key that opened it", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const admin = (await ts.server.apiKeys.create("default", "admin", Date.now())).key;
  const doomed = await ts.server.apiKeys.create("default", "doomed", Date.now());
  const res = await fetch(`${ts.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ api_key: doomed.key }) });
  const cookie = cookieOf(res);
  assert.equal((await fetch(`${ts.url}/accounts/projects/default/secrets`, { headers: { cookie } })).status, 200);
  const del = await fetch(`${ts.url}/accounts/projects/default/api-keys/${doomed.id}`, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } });
  assert.equal(del.status, 204);
  assert.equal((await fetch(`${ts.url}/accounts/projects/default/secrets`, { headers: { cookie } })).status, 401);
});

test("one-time login codes: work once, expire after 10 minutes, and open an admin session", async (t) => {
  const clock = movableClock();
  const ts = await startTestServer({ clock });
  t.after(() => ts.close());
  const post = (b: unknown) => fetch(`${ts.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) });

  const code = ts.server.issueLoginCode();
  const first = await post({ login: code });
  assert.equal(first.status, 200);
  const s = await first.json().then(anyJson);
  assert.equal(s.identity, "admin");
  assert.equal(s.participant_name, "admin");
  const cookie = cookieOf(first);
  assert.equal((await fetch(`${ts.url}/accounts/projects/default/rooms`, { headers: { cookie } })).status, 200);

  const again = await post({ login: code });
  assert.equal(again.status, 401);
  assert.match((await again.json().then(anyJson)).error, /already used or has expired/);

  const late = ts.server.issueLoginCode();
  clock.advance(10 * 60_000 + 1000);
  assert.equal((await post({ login: late })).status, 401);
  const fresh = ts.server.issueLoginCode();
  clock.advance(9 * 60_000);
  assert.equal((await post({ login: fresh })).status, 200);

  assert.equal((await post({})).status, 400);
  assert.equal((await post({ login: "made-up" })).status, 401);
});

test("browser sessions are kept in the server's database: bounded, expire when idle", async (t) => {
  const clock = movableClock();
  const ts = await startTestServer({ clock });
  t.after(() => ts.close());
  const sessions = ts.server.browserSessions as SharedBrowserSessions;
  const opened: string[] = [];
  for (let i = 0; i < sessions.limits.maxSessions + 5; i++) {
    opened.push((await sessions.create("admin", null)).id);
    clock.advance(1); // distinct last-seen times: the least recently seen go first
  }
  assert.equal(await sessions.get(opened[0]!), undefined, "the oldest sessions are forgotten beyond the bound");
  assert.equal(await sessions.get(opened[4]!), undefined);
  assert.ok((await sessions.get(opened[5]!)) !== undefined);
  assert.ok((await sessions.get(opened.at(-1)!)) !== undefined);
  clock.advance(sessions.limits.idleMs + 1000);
  assert.equal(await sessions.get(opened.at(-1)!), undefined, "idle sessions expire");
});

test("a Studio sign-in and an unused login code survive a server restart on the same data directory", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-signin-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const secret = "restart-secret";
  const first = await startTestServer({ dataDir, secret });
  const key = (await first.server.apiKeys.create("default", "studio", Date.now())).key;
  const res = await fetch(`${first.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ api_key: key }) });
  assert.equal(res.status, 200);
  const cookie = cookieOf(res);
  const { csrf_token: csrf } = await res.json().then(anyJson);
  const code = first.server.issueLoginCode();
  await first.close();

  const second = await startTestServer({ dataDir, secret });
  t.after(() => second.close());
  const rooms = await fetch(`${second.url}/accounts/projects/default/rooms`, { headers: { cookie } });
  assert.equal(rooms.status, 200, "the cookie from before the restart still signs in");
  const who = await fetch(`${second.url}/auth/session`, { headers: { cookie } });
  assert.equal((await who.json().then(anyJson)).csrf_token, csrf, "same session, same CSRF token");
  const login = await fetch(`${second.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ login: code }) });
  assert.equal(login.status, 200, "a link printed before the restart still works once");
  const signedOut = await fetch(`${second.url}/auth/session`, { method: "DELETE", headers: { cookie, "x-csrf-token": csrf } });
  assert.ok(signedOut.status < 300, `sign-out: ${signedOut.status}`);
  assert.equal((await fetch(`${second.url}/accounts/projects/default/rooms`, { headers: { cookie } })).status, 401, "signed out stays signed out");
});

test("Bearer and ?token= auth: query tokens only on stream routes; errors carry a stable code", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const viaQuery = await fetch(`${ts.url}/accounts/projects/default/services?token=${key}`);
  assert.equal(viaQuery.status, 401, "?token= is for EventSource streams only");
  const malformed = await fetch(`${ts.url}/accounts/projects/default/services`, { headers: { authorization: "Basic abc" } });
  assert.equal(malformed.status, 401);
  assert.deepEqual(Object.keys(await malformed.json().then(anyJson)).sort(), ["code", "error"]);
  const badJson = await fetch(`${ts.url}/accounts/projects/default/services`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: "{nope" });
  assert.equal(badJson.status, 400);
  assert.equal((await badJson.json().then(anyJson)).code, "bad_request");
  const badRoom = await fetch(`${ts.url}/accounts/projects/default/rooms/Bad%20Room!/services`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(badRoom.status, 400);
  assert.equal((await badRoom.json().then(anyJson)).code, "invalid_room_name");
  const nowhere = await fetch(`${ts.url}/accounts/projects/default/nowhere`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(nowhere.status, 404);
  assert.equal((await nowhere.json().then(anyJson)).code, "not_found");
  assert.equal((await fetch(`${ts.url}/accounts/projects/default/nowhere`)).status, 401, "unknown routes of the API need auth too");
});
