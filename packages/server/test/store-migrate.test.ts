import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { pino } from "pino";
import { startRoomServer, StoreOpenError } from "../src/index.ts";
import { MIGRATIONS } from "../src/store/migrations.ts";
import { startPgServer } from "./pg-server.ts";
import { startTestServer } from "./helpers.ts";

const quiet = pino({ level: "silent" });
const SECRET = "project-secret-of-an-old-install";

const tempDir = async (t: { after(fn: () => unknown): void }) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-migrate-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
};

/** A secret sealed the way every release has stored it: iv(12) | GCM tag(16) | body. */
function sealedAsReleased(value: string): Buffer {
  const key = Buffer.from(hkdfSync("sha256", SECRET, "roomservice", "secret-store-v1", 32));
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([c.update(value), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]);
}

test("a SQLite data directory from an older release (schema 2) upgrades in place: its services, secrets, API keys and sessions keep working", async (t) => {
  const dataDir = await tempDir(t);
  const file = join(dataDir, "roomservice.db");
  // What a release with two migrations left on disk, written with its own SQL.
  const old = new DatabaseSync(file);
  old.exec("PRAGMA journal_mode = WAL");
  for (const m of MIGRATIONS.slice(0, 2)) old.exec(m.sqlite);
  old.exec("PRAGMA user_version = 2");
  const t0 = Date.UTC(2026, 0, 1);
  old.prepare("INSERT INTO sessions (id, room, started_at, ended_at, end_reason, participants) VALUES (?, ?, ?, ?, ?, ?)")
    .run("old-session", "lobby", t0, t0 + 60_000, "departure_timeout", JSON.stringify(["ann"]));
  const spec = JSON.stringify({ version: "v1", kind: "Service", metadata: { name: "web" }, container: { image: "example/web:1" } });
  old.prepare("INSERT INTO services (id, project, room, name, spec, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)").run("svc-1", "default", null, "web", spec, t0, t0);
  old.prepare("INSERT INTO service_versions (service_id, version, spec, created_at) VALUES (?, 1, ?, ?)").run("svc-1", spec, t0);
  old.prepare("INSERT INTO secrets (id, project, room, name, type, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
    .run("sec-1", "default", null, "api-key", "opaque", sealedAsReleased("kept-value"), t0, t0);
  const keyId = "0123456789abcdef0123456789abcdef";
  const keySecret = "old-key-secret";
  old.prepare("INSERT INTO api_keys (id, project, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)")
    .run(keyId, "default", "ops", createHash("sha256").update(keySecret).digest("hex"), t0);
  old.close();

  const ts = await startTestServer({ dataDir, secret: SECRET });
  const auth = { authorization: `Bearer rsk_${keyId}_${keySecret}` };
  const base = `${ts.url}/accounts/projects/default`;
  try {
    assert.equal(ts.server.ctx.store.dialect, "sqlite");
    const services = await (await fetch(`${base}/services`, { headers: auth })).json() as { services: { id: string; metadata: { name: string } }[] };
    assert.deepEqual(services.services.map((s) => [s.id, s.metadata.name]), [["svc-1", "web"]], "the old API key still verifies and the old service is listed");
    const keys = await (await fetch(`${base}/api-keys`, { headers: auth })).json() as { keys: { id: string; description: string }[] };
    assert.deepEqual(keys.keys.filter((k) => k.id === keyId).map((k) => k.description), [""], "migration 5's new column has its default");
    const session = await (await fetch(`${base}/sessions/old-session`, { headers: auth })).json() as { room_name: string; end_reason: string; participants: string[] };
    assert.deepEqual([session.room_name, session.end_reason, session.participants], ["lobby", "departure_timeout", ["ann"]]);
    assert.equal((await ts.server.secrets.resolveValue("default", "lobby", "api-key"))!.toString(), "kept-value", "secrets sealed by the old release open");
    const rooms = await (await fetch(`${base}/rooms`, { headers: auth })).json() as { rooms: { name: string }[] };
    assert.deepEqual(rooms.rooms.map((r) => r.name), ["lobby"]);
  } finally {
    await ts.close();
  }
  const db = new DatabaseSync(file);
  assert.equal((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version, MIGRATIONS.length);
  db.close();
});

test("a data directory whose schema is newer than this build is refused with what to do, and left as it was", async (t) => {
  const dataDir = await tempDir(t);
  const file = join(dataDir, "roomservice.db");
  const db = new DatabaseSync(file);
  db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
  db.close();
  for (let i = 0; i < 2; i++) {
    // Twice: the data directory's lock is released after the refusal.
    await assert.rejects(startRoomServer({ dataDir, logger: quiet, port: 0, host: "127.0.0.1", secret: SECRET }), (err: Error) => {
      assert.ok(err instanceof StoreOpenError, `${err.name}: ${err.message}`);
      assert.match(err.message, new RegExp(`roomservice\\.db has schema version ${MIGRATIONS.length + 1}, but this Roomservice knows versions up to ${MIGRATIONS.length}`));
      assert.match(err.message, /newer Roomservice/);
      return true;
    });
  }
  const after = new DatabaseSync(file);
  assert.equal((after.prepare("PRAGMA user_version").get() as { user_version: number }).user_version, MIGRATIONS.length + 1, "untouched");
  after.close();
});

test("--database errors say what is wrong and what to do, and never echo the password", async (t) => {
  const dataDir = await tempDir(t);
  const start = (databaseUrl: string) => startRoomServer({ dataDir, logger: quiet, port: 0, host: "127.0.0.1", secret: SECRET, databaseUrl, databaseUrlSource: "--database" });
  const refused = async (url: string, ...patterns: RegExp[]) => {
    await assert.rejects(start(url), (err: Error) => {
      assert.ok(err instanceof StoreOpenError, `${err.name}: ${err.message}`);
      for (const p of patterns) assert.match(err.message, p);
      assert.doesNotMatch(err.message, /hunter2/, "the password is not in the message");
      return true;
    });
  };
  await refused("mysql://root:hunter2@db/rooms", /^--database: expected a URL like postgres:\/\/user:password@host:5432\/database, got "mysql:\/\/root:\*\*\*@db\/rooms"/);
  await refused("postgres://u:hunter2@[not-a-host/db", /--database: .* is not a valid URL/);
  // Port 1 on loopback: nothing listens there.
  await refused("postgres://u:hunter2@127.0.0.1:1/rooms", /cannot connect to PostgreSQL at 127\.0\.0\.1:1\/rooms \(from --database\)/, /Is PostgreSQL running/);

  const pg = await startPgServer();
  after(() => pg.stop());
  await refused(`${pg.baseUrl}no_such_db`, /database "no_such_db" does not exist/, /Create it first/);
  const ok = await start(await pg.createDatabase());
  assert.equal(ok.ctx.store.dialect, "postgres");
  await ok.close();
  // libpq's unix-socket form (empty host, ?host=<socket dir>) works and is described by its socket.
  await refused("postgres://u:hunter2@/rooms?host=/nonexistent-dir", /cannot connect to PostgreSQL at \/nonexistent-dir\/rooms/);
  const viaSocket = await start(`postgres://roomservice@/${new URL(await pg.createDatabase()).pathname.slice(1)}?host=${pg.socketDir}&port=${pg.port}`);
  assert.equal(viaSocket.ctx.store.dialect, "postgres");
  await viaSocket.close();
});
