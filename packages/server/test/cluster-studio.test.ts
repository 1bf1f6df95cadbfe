import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { pino } from "pino";
import { mintParticipantToken, Store, systemClock } from "../src/index.ts";
import { SharedBrowserSessions } from "../src/auth/shared-browser-sessions.ts";
import { sql } from "kysely";
import { startTestCluster, type ClusterNodeProc } from "./cluster-helpers.ts";
import { startPgServer } from "./pg-server.ts";

// Issue 11 gap 3: Studio's sign-in sessions are in the shared database when clustered, so a
// browser signed in through one node is signed in on every node (no cookie affinity at the
// load balancer). Two real `serve --cluster` processes on one real PostgreSQL; every request
// is a real HTTP request to one node or the other.

const cookieOf = (res: Response): string => (res.headers.get("set-cookie") ?? "").split(";")[0]!;

test("Studio sign-in through node 1 works on node 2; sign-out, single-use login codes and API key deletion apply on every node", { timeout: 180_000 }, async (t) => {
  const cl = await startTestCluster({ nodes: 2 });
  t.after(() => cl.close());
  const [n1, n2] = cl.nodes as [ClusterNodeProc, ClusterNodeProc];
  const call = (node: ClusterNodeProc, method: string, path: string, o: { cookie?: string; csrf?: string; bearer?: string; body?: unknown } = {}) =>
    fetch(`${node.url}${path}`, {
      method,
      headers: {
        ...(o.cookie ? { cookie: o.cookie } : {}), ...(o.csrf ? { "x-csrf-token": o.csrf } : {}),
        ...(o.bearer ? { authorization: `Bearer ${o.bearer}` } : {}), ...(o.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
    });

  // The one-time link node 1 printed is redeemed through node 2 — and then by no node again.
  const code = /Studio: \S+\/\?login=([\w-]+)/.exec(n1.stdout())?.[1];
  assert.ok(code, `node1 printed a login link: ${n1.stdout()}`);
  const signedIn = await call(n2, "POST", "/auth/session", { body: { login: code } });
  assert.equal(signedIn.status, 200, await signedIn.clone().text());
  const cookie = cookieOf(signedIn);
  const { csrf_token: csrf, identity } = await signedIn.json() as { csrf_token: string; identity: string };
  assert.equal(identity, "admin");
  assert.equal((await call(n1, "POST", "/auth/session", { body: { login: code } })).status, 401, "the code was used (through the other node)");

  // The cookie from node 2 is a session on node 1: reads, and CSRF-checked writes.
  const me = await call(n1, "GET", "/auth/session", { cookie });
  assert.equal(me.status, 200);
  assert.equal((await me.json() as { csrf_token: string }).csrf_token, csrf, "one session, one CSRF token");
  assert.equal((await call(n1, "GET", "/accounts/projects/default/rooms", { cookie })).status, 200);
  assert.equal((await call(n1, "POST", "/accounts/projects/default/api-keys", { cookie, body: { name: "ops" } })).status, 403, "a cookie write without the CSRF token is refused");
  const made = await call(n1, "POST", "/accounts/projects/default/api-keys", { cookie, csrf, body: { name: "ops" } });
  assert.equal(made.status, 201);
  const key = await made.json() as { id: string; value: string };

  // Signed in with that API key through node 1; the session works through node 2.
  const withKey = await call(n1, "POST", "/auth/session", { body: { api_key: key.value } });
  assert.equal(withKey.status, 200);
  const keyCookie = cookieOf(withKey);
  assert.equal((await call(n2, "GET", "/accounts/projects/default/sessions", { cookie: keyCookie })).status, 200);

  // The database holds hashes, never a cookie value or a login code.
  const rows = (await cl.db.query("SELECT * FROM browser_sessions")).rows;
  assert.equal(rows.length, 2);
  const hashes = [cookie, keyCookie].map((c) => createHash("sha256").update(c.split("=")[1]!).digest("hex")).sort();
  assert.deepEqual(rows.map((r) => r.id_hash).sort(), hashes);
  const dump = JSON.stringify((await cl.db.query("SELECT * FROM browser_sessions")).rows) + JSON.stringify((await cl.db.query("SELECT * FROM login_codes")).rows);
  for (const secret of [cookie.split("=")[1]!, keyCookie.split("=")[1]!, code, key.value]) assert.ok(!dump.includes(secret), "no secret value stored");

  // Sign-out through node 2 ends the session on node 1 too.
  assert.equal((await call(n2, "DELETE", "/auth/session", { cookie, csrf })).status, 204);
  assert.equal((await call(n1, "GET", "/auth/session", { cookie })).status, 401);

  // Deleting the API key through node 2 revokes the sessions it opened, on node 1 too.
  const admin = await mintParticipantToken(cl.secret, { room: "admin", identity: "admin", role: "user", ttlSeconds: 600, api: { admin: {} } as never });
  assert.equal((await call(n2, "DELETE", `/accounts/projects/default/api-keys/${key.id}`, { bearer: admin })).status, 204);
  assert.equal((await call(n1, "GET", "/accounts/projects/default/rooms", { cookie: keyCookie })).status, 401);
  assert.equal((await cl.db.query("SELECT count(*)::int AS n FROM browser_sessions")).rows[0].n, 0, "both rows are gone");
});

test("shared browser sessions are bounded, expire when idle, and a login code works once (PostgreSQL)", { timeout: 120_000 }, async (t) => {
  const pgs = await startPgServer();
  const store = await Store.openPostgres(await pgs.createDatabase("sessions"));
  t.after(async () => {
    await store.close();
    await pgs.stop();
  });
  const count = async () => Number((await sql<{ n: number }>`SELECT count(*) AS n FROM browser_sessions`.execute(store.db)).rows[0]!.n);
  let offset = 0;
  const clock = { now: () => Date.now() + offset, setTimeout: systemClock.setTimeout };
  const s = new SharedBrowserSessions(store, clock, pino({ level: "silent" }), { maxSessions: 3 });
  const opened: string[] = [];
  for (let i = 0; i < 5; i++) {
    opened.push((await s.create("admin", null)).id);
    offset += 1; // distinct last-seen times: the oldest go first
  }
  assert.equal(await count(), 3, "bounded");
  assert.equal(await s.get(opened[0]!), undefined, "the least recently seen was dropped");
  assert.ok((await s.get(opened[4]!)) !== undefined);
  offset += s.limits.idleMs + 1000;
  assert.equal(await s.get(opened[4]!), undefined, "idle sessions expire");
  const code = s.issueLoginCode();
  const [first, second] = await Promise.all([s.redeemLoginCode(code), s.redeemLoginCode(code)]);
  assert.deepEqual([first, second].sort(), [false, true], "exactly one redemption wins");
  const late = s.issueLoginCode();
  offset += s.limits.loginCodeMs + 1000;
  assert.equal(await s.redeemLoginCode(late), false, "an expired code does not work");
});
