import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { sql } from "kysely";
import type { ActivityEvent } from "@roomservice/protocol";
import { Store, StoreOpenError } from "../src/store/db.ts";
import { MIGRATIONS } from "../src/store/migrations.ts";
import { RoomSettingsStore, SessionStore } from "../src/store/sessions.ts";
import { RoomStore } from "../src/store/rooms.ts";
import { SessionEventStore } from "../src/store/session-events.ts";
import { endStoredSessions } from "../src/store/session-end.ts";
import { ServiceConflict, ServiceStore } from "../src/services/service-store.ts";
import { SecretError, SecretStore } from "../src/services/secret-store.ts";
import { ApiKeyStore } from "../src/services/api-keys.ts";
import { LlmStore } from "../src/llm/llm-store.ts";

/** One database to run the suite on: the same database on every `open()`. */
export interface StoreTarget {
  open(): Promise<Store>;
  /** Writes the schema version straight into the database, bypassing migrations. */
  forceVersion(v: number): Promise<void>;
}

/** Makes an empty database (one per test). */
export type StoreFactory = () => Promise<StoreTarget>;

const quiet = pino({ level: "silent" });
/** After 2038 in ms and past 2^31: timestamps must survive as 64-bit numbers. */
const T = 2_200_000_000_000;
const spec = (name: string, extra: Record<string, unknown> = {}) => ({ version: "v1", kind: "Service", metadata: { name }, container: { image: "x/y:1" }, ...extra });

/**
 * The control-plane store's contract, run against every dialect (store-conformance.test.ts):
 * what one implementation does, the other must do the same way — results, order, errors.
 */
export function storeConformance(dialect: string, factory: StoreFactory): void {
  const withStore = (name: string, fn: (s: Store, target: StoreTarget) => Promise<void>) =>
    test(`${dialect}: ${name}`, async () => {
      const target = await factory();
      const s = await target.open();
      try {
        await fn(s, target);
      } finally {
        await s.close();
      }
    });

  test(`${dialect}: migrations run once, a reopen keeps the data, a newer schema is refused with what to do`, async () => {
    const target = await factory();
    const s1 = await target.open();
    assert.equal(s1.dialect, dialect);
    await new ApiKeyStore(s1).create("p", "kept", T);
    await s1.close();
    const s2 = await target.open();
    assert.deepEqual((await new ApiKeyStore(s2).list("p")).map((k) => k.name), ["kept"], "data survives a reopen; migrations did not run twice");
    await s2.close();
    await target.forceVersion(MIGRATIONS.length + 1);
    await assert.rejects(target.open(), (err: Error) => {
      assert.ok(err instanceof StoreOpenError, `a StoreOpenError, got ${err.name}: ${err.message}`);
      assert.match(err.message, new RegExp(`schema version ${MIGRATIONS.length + 1}.*knows versions up to ${MIGRATIONS.length}.*newer Roomservice`));
      return true;
    });
  });

  withStore("sessions: start, participants, end, list newest first per room, dangling sessions closed", async (s) => {
    const sessions = new SessionStore(s, quiet);
    sessions.recordStart("s1", "alpha", T);
    sessions.recordParticipants("s1", ["ann", "bob"]);
    sessions.recordStart("s2", "alpha", T + 10);
    sessions.recordStart("s3", "beta", T + 20);
    sessions.recordEnd("s1", T + 5, "departure_timeout", ["ann", "bob", "cy"]);
    assert.deepEqual(await sessions.get("s1"), { id: "s1", room: "alpha", startedAt: T, endedAt: T + 5, endReason: "departure_timeout", participants: ["ann", "bob", "cy"] });
    assert.equal(typeof (await sessions.get("s1"))!.startedAt, "number");
    assert.deepEqual((await sessions.list("alpha")).map((r) => r.id), ["s2", "s1"]);
    assert.deepEqual((await sessions.list(undefined, 2)).map((r) => r.id), ["s3", "s2"]);
    assert.equal(await sessions.get("nope"), undefined);
    assert.equal(await sessions.closeDangling(T + 99), 2);
    assert.deepEqual(await sessions.get("s3"), { id: "s3", room: "beta", startedAt: T + 20, endedAt: T + 99, endReason: "server_restart", participants: [] });
  });

  withStore("ending a stored session (store/session-end.ts): row, one SessionEnded event, participants left; first ending wins over a later live one", async (s) => {
    const sessions = new SessionStore(s, quiet);
    const events = new SessionEventStore(s, quiet);
    sessions.recordStart("s1", "alpha", T);
    sessions.recordStart("s2", "beta", T);
    sessions.recordEnd("s2", T + 1, "departure_timeout", []);
    events.participantJoined("s1", { id: "p1", name: "ann", role: "user" }, T + 1);
    events.participantJoined("s1", { id: "p2", name: "bob", role: "user" }, T + 1);
    events.participantLeft("s1", "p2", T + 2);
    const started: ActivityEvent = { seq: 5, session_id: "s1", room: "alpha", at: new Date(T).toISOString(), kind: "session", type: "Normal", reason: "SessionStarted", message: "Session started" };
    events.addEvent(started);
    await sessions.settled();
    await events.flush();
    assert.equal(await endStoredSessions(s, ["s1", "s2", "nope"], { at: T + 9, reason: "lease_lost", detail: "node n1 lost the room's lease; node n2 took it" }), 1, "only the open one ends");
    assert.deepEqual(await sessions.get("s1"), { id: "s1", room: "alpha", startedAt: T, endedAt: T + 9, endReason: "lease_lost", participants: [] });
    assert.equal((await sessions.get("s2"))!.endReason, "departure_timeout", "an ended session is left as it is");
    assert.deepEqual((await events.events("s1", "alpha")).map((e) => [e.seq, e.reason, e.message]), [
      [5, "SessionStarted", "Session started"],
      [6, "SessionEnded", "Session ended (lease_lost: node n1 lost the room's lease; node n2 took it)"],
    ]);
    assert.deepEqual((await events.participants("s1")).map((p) => [p.name, p.left_at]), [["ann", new Date(T + 9).toISOString()], ["bob", new Date(T + 2).toISOString()]]);
    assert.deepEqual(await events.events("s2", "beta"), [], "no event for a session that had ended already");
    // The node that ran s1 comes back and ends it itself (as a fenced owner does): nothing changes.
    sessions.recordEnd("s1", T + 20, "lease_lost", ["ann"]);
    events.participantLeft("s1", "p1", T + 20);
    events.addEvent({ ...started, seq: 7, reason: "SessionEnded", message: "Session ended (lease_lost)" });
    await sessions.settled();
    await events.flush();
    assert.equal((await sessions.get("s1"))!.endedAt, T + 9, "first ending wins");
    assert.deepEqual((await events.events("s1", "alpha")).map((e) => e.seq), [5, 6], "one SessionEnded per session");
    assert.equal((await events.participants("s1"))[0]!.left_at, new Date(T + 9).toISOString());
    assert.equal(await endStoredSessions(s, ["s1"], { at: T + 30, reason: "server_restart", detail: "again" }), 0, "ending twice is a no-op");
    // Start-up recovery goes the same way.
    sessions.recordStart("s3", "gamma", T + 40);
    assert.equal(await sessions.closeDangling(T + 50), 1);
    assert.deepEqual((await events.events("s3", "gamma")).map((e) => [e.seq, e.message]), [[1, "Session ended (server_restart: the server stopped without closing it)"]]);
  });

  withStore("room settings: write-through cache, reload, clear", async (s) => {
    const a = new RoomSettingsStore(s);
    await a.load();
    assert.equal(a.departureTimeoutMs("r"), undefined);
    await a.setDepartureTimeoutMs("r", 2500, T);
    await a.setDepartureTimeoutMs("q", 100, T);
    assert.equal(a.departureTimeoutMs("r"), 2500);
    const b = new RoomSettingsStore(s);
    await b.load();
    assert.equal(b.departureTimeoutMs("r"), 2500, "another instance (another node) reads it after load()");
    await a.setDepartureTimeoutMs("r", null, T + 1);
    assert.equal(a.departureTimeoutMs("r"), undefined);
    await b.load();
    assert.equal(b.departureTimeoutMs("r"), undefined);
    assert.equal(b.departureTimeoutMs("q"), 100);
  });

  withStore("rooms: created rooms keep metadata; rooms known from sessions, services, secrets and settings; byte order; paging", async (s) => {
    const rooms = new RoomStore(s);
    assert.equal(await rooms.create("b-created", { k: 1 }, { a: "x" }, T + 3), true);
    assert.equal(await rooms.create("b-created", { k: 2 }, {}, T + 4), false, "second create is a no-op");
    const sessions = new SessionStore(s, quiet);
    sessions.recordStart("s1", "a-session", T + 1);
    await sessions.settled();
    await new ServiceStore(s).create("p", "C-service", "web", spec("web"), T + 2);
    await new SecretStore(s, "k").create("p", "d-secret", "key", "opaque", Buffer.from("v"), T + 5);
    await new RoomSettingsStore(s).setDepartureTimeoutMs("e-setting", 1, T + 6);
    sessions.recordStart("s2", "a-session", T + 10);
    await sessions.settled();
    const all = await rooms.list(100, 0);
    // Byte order (as SQLite compares): upper case before lower case, whatever the locale.
    assert.deepEqual(all.map((r) => r.name), ["C-service", "a-session", "b-created", "d-secret", "e-setting"]);
    assert.deepEqual(all[1], { name: "a-session", createdAt: T + 1, metadata: {}, annotations: {} }, "first seen: the earliest session");
    assert.deepEqual(await rooms.get("b-created"), { name: "b-created", createdAt: T + 3, metadata: { k: 1 }, annotations: { a: "x" } });
    assert.equal(await rooms.get("never"), undefined);
    assert.deepEqual((await rooms.list(2, 2)).map((r) => r.name), ["b-created", "d-secret"]);
  });

  withStore("services: versions, name conflicts per scope, shadowing, ordering, delete", async (s) => {
    const svc = new ServiceStore(s);
    const web = await svc.create("p", null, "web", spec("web"), T);
    assert.equal(web.version, 1);
    await assert.rejects(svc.create("p", null, "web", spec("web"), T), ServiceConflict);
    const roomWeb = await svc.create("p", "r1", "web", spec("web", { ports: [{ num: 1 }] }), T);
    await svc.create("p", "r1", "Zeta", spec("Zeta"), T);
    await svc.create("p", "r2", "api", spec("api"), T);
    await svc.create("other", null, "web", spec("web"), T);
    const v2 = await svc.update(web.id, "web", spec("web", { description: "v2" }), T + 1);
    assert.equal(v2.version, 2);
    assert.deepEqual(v2.spec.description, "v2");
    assert.equal(v2.updatedAt, T + 1);
    const other = await svc.create("p", null, "agent", spec("agent"), T);
    await assert.rejects(svc.update(other.id, "web", spec("web"), T), ServiceConflict, "rename onto a taken name");
    assert.deepEqual((await svc.list("p", null)).map((r) => r.name), ["agent", "web"]);
    assert.deepEqual((await svc.list("p", "r1")).map((r) => r.name), ["Zeta", "web"]);
    assert.deepEqual((await svc.allRooms("p")).map((r) => `${r.room}/${r.name}`), ["r1/Zeta", "r1/web", "r2/api"]);
    const forR1 = await svc.forRoom("p", "r1");
    assert.deepEqual(forR1.map((r) => r.name), ["Zeta", "agent", "web", "web"], "project and room services, by name in byte order");
    assert.deepEqual(new Set(forR1.filter((r) => r.name === "web").map((r) => r.room)), new Set([null, "r1"]));
    assert.equal((await svc.findForRoom("p", "r1", "web"))!.id, roomWeb.id, "a room service shadows the project's");
    assert.equal((await svc.findForRoom("p", "r2", "web"))!.id, web.id);
    assert.equal(await svc.findForRoom("p", "r2", roomWeb.id), undefined, "another room's service is not this room's");
    assert.equal((await svc.findByName("p", "r1", "web"))!.id, roomWeb.id);
    assert.equal(await svc.delete(roomWeb.id), true);
    assert.equal(await svc.delete(roomWeb.id), false);
    assert.equal(await svc.get(roomWeb.id), undefined);
  });

  withStore("services: concurrent creates of one name: exactly one wins, the others get ServiceConflict", async (s) => {
    const svc = new ServiceStore(s);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => svc.create("p", "race", "same", spec("same"), T)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof ServiceConflict, `ServiceConflict, got ${r.reason}`);
    assert.equal((await svc.list("p", "race")).length, 1);
  });

  withStore("secrets: encrypted at rest, write-only, set/update/rename rules, room shadows project", async (s) => {
    const sec = new SecretStore(s, "project-secret");
    const a = await sec.create("p", null, "api-key", "opaque", Buffer.from("project-value"), T);
    await assert.rejects(sec.create("p", null, "api-key", "opaque", Buffer.from("x"), T), (e: SecretError) => e instanceof SecretError && e.status === 409);
    await assert.rejects(sec.create("p", null, "../x", "opaque", Buffer.from("x"), T), (e: SecretError) => e instanceof SecretError && e.status === 400 && /name/.test(e.message));
    await sec.create("p", "r1", "api-key", "opaque", Buffer.from("room-value"), T);
    assert.equal((await sec.resolveValue("p", "r1", "api-key"))!.toString(), "room-value");
    assert.equal((await sec.resolveValue("p", "r2", "api-key"))!.toString(), "project-value");
    assert.equal((await sec.resolveValue("p", "r2", a.id))!.toString(), "project-value", "by id");
    assert.equal(await sec.resolveValue("q", "r1", "api-key"), undefined, "another project's secret");
    const raw = await s.db.selectFrom("secrets").select("ciphertext").where("id", "=", a.id).executeTakeFirstOrThrow();
    assert.ok(!Buffer.from(raw.ciphertext).includes(Buffer.from("project-value")), "the stored bytes are not the value");
    const set = await sec.set("p", null, "api-key", "json", Buffer.from("replaced"), T + 1);
    assert.equal(set.id, a.id, "set replaces the secret of that name");
    assert.equal(set.type, "json");
    assert.equal((await sec.resolveValue("p", "r2", "api-key"))!.toString(), "replaced");
    const b = await sec.create("p", null, "other", "opaque", Buffer.from("o"), T);
    await assert.rejects(sec.update(b.id, { name: "api-key" }, T), (e: SecretError) => e.status === 409);
    await assert.rejects(sec.update("missing", { name: "z" }, T), (e: SecretError) => e.status === 404);
    await sec.update(b.id, { name: "renamed", value: Buffer.from("new") }, T + 2);
    assert.equal((await sec.resolveValue("p", "r1", "renamed"))!.toString(), "new");
    assert.deepEqual((await sec.list("p", null)).map((x) => x.name), ["api-key", "renamed"]);
    assert.equal((await sec.findByName("p", "r1", "api-key"))!.room, "r1");
    await assert.rejects(new SecretStore(s, "another-secret").resolveValue("p", "r1", "renamed"), /project secret changed/);
    assert.equal(await sec.delete(b.id), true);
    assert.equal(await sec.getInfo(b.id), undefined);
  });

  withStore("secrets: concurrent creates of one name: one wins, the others get 409", async (s) => {
    const sec = new SecretStore(s, "k");
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => sec.create("p", null, "same", "opaque", Buffer.from(String(i)), T)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) if (r.status === "rejected") assert.equal((r.reason as SecretError).status, 409);
  });

  withStore("API keys: only a hash is stored; verify, list, exists, delete", async (s) => {
    const keys = new ApiKeyStore(s);
    const k1 = await keys.create("p", "ci", T, "for CI");
    const k2 = await keys.create("p", "laptop", T + 1);
    await keys.create("q", "elsewhere", T);
    assert.deepEqual(await keys.verify(k1.key), { id: k1.id, project: "p", name: "ci" });
    assert.equal(await keys.verify(k1.key.slice(0, -2) + "xx"), undefined);
    assert.equal(await keys.verify("rsk_nonsense"), undefined);
    const row = await s.db.selectFrom("api_keys").selectAll().where("id", "=", k1.id).executeTakeFirstOrThrow();
    assert.ok(!k1.key.includes(row.secret_hash) && row.secret_hash.length === 64);
    assert.deepEqual((await keys.list("p")).map((k) => [k.name, k.description, k.createdAt]), [["ci", "for CI", T], ["laptop", "", T + 1]]);
    assert.equal(await keys.exists(k2.id), true);
    assert.equal(await keys.delete(k2.id), true);
    assert.equal(await keys.exists(k2.id), false);
    assert.equal(await keys.verify(k2.key), undefined);
  });

  withStore("LLM: upstream set/replace/clear; concurrent usage adds all count", async (s) => {
    const llm = new LlmStore(s, quiet);
    assert.equal(await llm.getUpstream("p"), undefined);
    await llm.setUpstream("p", { baseUrl: "http://a", apiKeySecret: "k" }, T);
    await llm.setUpstream("p", { baseUrl: "http://b", apiKeySecret: null }, T + 1);
    assert.deepEqual(await llm.getUpstream("p"), { baseUrl: "http://b", apiKeySecret: null, updatedAt: T + 1 });
    for (let i = 0; i < 40; i++) llm.addUsage("p", { room: i % 2 === 0 ? "even" : "odd", ok: i % 10 !== 0, promptTokens: 3, completionTokens: 5, at: T + i });
    const u = await llm.usage("p");
    assert.deepEqual(u.map((x) => [x.room, x.requests, x.errors, x.promptTokens, x.completionTokens, x.lastUsedAt]), [
      ["even", 20, 4, 60, 100, T + 38], ["odd", 20, 0, 60, 100, T + 39],
    ]);
    assert.deepEqual((await llm.usage("p", "odd")).map((x) => x.room), ["odd"]);
    assert.equal(await llm.clearUpstream("p"), true);
    assert.equal(await llm.getUpstream("p"), undefined);
  });

  withStore("session events: timeline, participants, services, 64-bit and fractional stats, written in order", async (s) => {
    const ev = new SessionEventStore(s, quiet);
    const e = (seq: number, extra: Partial<ActivityEvent> = {}): ActivityEvent => ({
      seq, session_id: "s1", room: "r", at: new Date(T + seq).toISOString(), kind: "service", type: "Normal", reason: "Started", message: `m${seq}`, ...extra,
    } as ActivityEvent);
    ev.addEvent(e(1, { service_id: "svc-b", service_name: "b" }));
    ev.addEvent(e(2, { kind: "participant", participant: { id: "p1", name: "ann", role: "user" } } as Partial<ActivityEvent>));
    ev.addEvent(e(3, { service_id: "svc-a", service_name: "a" }));
    ev.addEvent(e(3, { message: "duplicate seq is ignored" }));
    ev.participantJoined("s1", { id: "p2", name: "bob", role: "agent" }, T + 5);
    ev.participantJoined("s1", { id: "p1", name: "ann", role: "user" }, T + 5);
    ev.participantLeft("s1", "p1", T + 6);
    ev.participantJoined("s1", { id: "p1", name: "ann", role: "user" }, T + 7);
    ev.closeParticipants("s1", T + 8);
    const big = 6 * 1024 ** 3; // past 2^32: BIGINT in PostgreSQL
    ev.addStats({ at: new Date(T).toISOString(), session_id: "s1", service_id: "svc-a", service_name: "a", cpu_percent: 12.345678, memory_bytes: big, memory_limit_bytes: null, cpu_limit_cores: 0.5 });
    ev.addStats({ at: new Date(T).toISOString(), session_id: "s1", service_id: "svc-b", service_name: "b", cpu_percent: 1, memory_bytes: 1, memory_limit_bytes: big * 2, cpu_limit_cores: null });
    await ev.flush();
    const tl = await ev.events("s1", "r");
    assert.deepEqual(tl.map((x) => [x.seq, x.message]), [[1, "m1"], [2, "m2"], [3, "m3"]]);
    assert.deepEqual(tl[1]!.participant, { id: "p1", name: "ann", role: "user" });
    assert.equal(tl[0]!.at, new Date(T + 1).toISOString());
    assert.deepEqual(await ev.participants("s1"), [
      { id: "p2", name: "bob", role: "agent", joined_at: new Date(T + 5).toISOString(), left_at: new Date(T + 8).toISOString() },
      { id: "p1", name: "ann", role: "user", joined_at: new Date(T + 5).toISOString(), left_at: new Date(T + 8).toISOString() },
    ], "insertion order breaks the tie; a rejoin clears left_at until the session closes");
    assert.deepEqual(await ev.services("s1"), [{ id: "svc-b", name: "b" }, { id: "svc-a", name: "a" }]);
    const stats = await ev.stats("s1");
    assert.deepEqual(stats.map((x) => [x.service_id, x.cpu_percent, x.memory_bytes, x.memory_limit_bytes, x.cpu_limit_cores]), [
      ["svc-a", 12.345678, big, null, 0.5], ["svc-b", 1, 1, big * 2, null],
    ]);
    assert.deepEqual((await ev.stats("s1", "svc-b")).map((x) => x.service_id), ["svc-b"]);
    assert.equal(await ev.participantCount("s1"), 2);
    assert.equal(await ev.participantCount("none"), 0);
  });

  withStore("transactions roll back as a whole", async (s) => {
    await assert.rejects(s.db.transaction().execute(async (trx) => {
      await trx.insertInto("api_keys").values({ id: "a", project: "p", name: "n", secret_hash: "h", created_at: T }).execute();
      await sql`SELECT * FROM no_such_table`.execute(trx);
    }));
    assert.equal(await new ApiKeyStore(s).exists("a"), false);
  });

  withStore("session history: one turn's writes are one transaction in call order; a bad write loses only itself; the queue is bounded", async (s) => {
    const errors: string[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => void errors.push(line) });
    const sessions = new SessionStore(s, logger);
    const ev = new SessionEventStore(s, logger);
    const before = s.history.committed;
    sessions.recordStart("h1", "hist", T);
    for (let i = 0; i < 50; i++) {
      ev.participantJoined("h1", { id: `p${i}`, name: `u${i}`, role: "user" }, T + i);
      sessions.recordParticipants("h1", Array.from({ length: i + 1 }, (_, k) => `u${k}`));
    }
    ev.participantLeft("h1", "p0", T + 60);
    await sessions.settled();
    const after = s.history.committed;
    assert.deepEqual([after.batches - before.batches, after.ops - before.ops], [1, 102], "102 writes of one turn, one transaction");
    assert.equal((await sessions.get("h1"))!.participants.length, 50, "the last participant list of the turn won (call order)");
    assert.equal(await ev.participantCount("h1"), 50);
    assert.equal((await ev.participants("h1"))[0]!.left_at, new Date(T + 60).toISOString());

    // A duplicate session id fails its batch; the batch is retried write by write.
    sessions.recordStart("h1", "hist", T + 100);
    sessions.recordStart("h2", "hist", T + 100);
    ev.participantJoined("h2", { id: "q", name: "q", role: "user" }, T + 101);
    await sessions.settled();
    assert.equal((await sessions.get("h2"))?.room, "hist", "the writes around the bad one are kept");
    assert.equal(await ev.participantCount("h2"), 1);
    assert.equal((await sessions.get("h1"))!.startedAt, T, "the bad write changed nothing");
    assert.equal(errors.length, 1, `one error reported: ${errors.join("")}`);
    assert.match(errors[0]!, /writing session history failed/);

    // Bounded: past maxPending, writes are dropped, the first drop reported once.
    const { HistoryWriter } = await import("../src/store/history-writer.ts");
    const small = new HistoryWriter(s, { maxPending: 3 });
    const drops: unknown[] = [];
    for (let i = 0; i < 6; i++) small.push((trx) => trx.insertInto("sessions").values({ id: `b${i}`, room: "bounded", started_at: T + i }).execute(), (err) => drops.push(err));
    await small.flushAndSync();
    assert.deepEqual((await sessions.list("bounded")).map((r) => r.id).sort(), ["b0", "b1", "b2"]);
    assert.equal(drops.length, 1);
    assert.match(String(drops[0]), /3 writes are waiting for the database; dropping new ones/);
  });
}
