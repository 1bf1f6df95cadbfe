/**
 * status() hands out snapshots without cloning the event list (ServiceEventLog): a snapshot
 * never changes after it was taken — not by later events, not by a repeat bumping a count, not
 * by a probe updating a port — and the state listeners get the same snapshots readers get.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ServiceSupervisor } from "../src/supervisor.ts";
import { MAX_SERVICE_EVENTS, ServiceEventLog } from "../src/service-events.ts";
import type { ServiceRuntimeState } from "../src/index.ts";
import { FakeClock, FakeDriver, fakeSpec, quietLogger, settle } from "./fake-driver.ts";

test("a status() snapshot stays as it was while the service crash-loops on; listeners get snapshots too", async () => {
  const driver = new FakeDriver();
  const clock = new FakeClock();
  const sup = new ServiceSupervisor(fakeSpec("svc"), driver, quietLogger, clock);
  const heard: { st: ServiceRuntimeState; copy: string }[] = [];
  sup.on("state", (st) => heard.push({ st, copy: JSON.stringify(st) }));
  driver.crashWith = 3;
  sup.start();
  await settle();
  const early = sup.status();
  const earlyJson = JSON.stringify(early);
  assert.ok(early.events.length > 0);
  assert.equal(sup.status().events, early.events, "no change, no new list: readers share one snapshot");

  for (const d of [100, 200, 400, 400]) await clock.advance(d);
  const later = sup.status();
  assert.notEqual(later.events, early.events);
  assert.ok(later.restart_count > early.restart_count);
  const backoff = later.events.find((e) => e.reason === "BackOff" && e.count > 1);
  assert.ok(backoff !== undefined, `a repeated BackOff event: ${JSON.stringify(later.events)}`);
  assert.equal(JSON.stringify(early), earlyJson, "the early snapshot did not change under its holder");
  for (const h of heard) assert.equal(JSON.stringify(h.st), h.copy, "no listener's snapshot changed afterwards");
  assert.deepEqual(heard.at(-1)!.st.events, later.events, "the last notification shows what status() shows");

  assert.ok(Object.isFrozen(later.events) && later.events.every((e) => Object.isFrozen(e)), "the shared list is frozen: a reader cannot change it for others");
  assert.throws(() => (later.events as unknown[]).push({}), TypeError);
  later.ports.push({ num: 1, liveness_status: "ready", last_checked_at: null, last_error: null });
  assert.notEqual(sup.status().ports.length, later.ports.length, "ports are the caller's own copy");
  await sup.stop();
});

test("ServiceEventLog: repeats count up in a new snapshot, the list stays bounded, old snapshots keep their values", () => {
  const log = new ServiceEventLog();
  const a = log.record("BackOff", "Back-off 100ms", 1);
  assert.equal(a.type, "Warning");
  const s1 = log.list;
  const b = log.record("BackOff", "Back-off 100ms", 2);
  assert.deepEqual([b.count, b.first_timestamp, b.last_timestamp], [2, 1, 2]);
  assert.deepEqual([s1[0]!.count, s1[0]!.last_timestamp], [1, 1], "the earlier snapshot kept its count");
  assert.equal(log.list.length, 1);
  for (let i = 0; i < MAX_SERVICE_EVENTS + 5; i++) log.record("Exited", `exit ${i}`, 10 + i, "Normal");
  assert.equal(log.list.length, MAX_SERVICE_EVENTS);
  assert.equal(log.list.at(-1)!.message, `exit ${MAX_SERVICE_EVENTS + 4}`, "the newest kept");
  assert.ok(!log.list.some((e) => e.reason === "BackOff"), "the oldest dropped first");
});
