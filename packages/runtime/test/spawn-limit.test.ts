/**
 * HelperSpawnLimit: the runtime-wide bound on namespace-helper start-ups (netns/spawn-limit.ts).
 * A fake clock drives the queue timeout; nothing here depends on real time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { HelperSpawnLimit, NetnsError } from "../src/index.ts";
import type { Clock } from "../src/types.ts";

/** Timers fire only when the test advances the clock. */
function fakeClock(): Clock & { advance(ms: number): void; pending(): number } {
  let now = 0;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimer(fn, ms) {
      const t = { at: now + ms, fn };
      timers.add(t);
      return () => timers.delete(t);
    },
    advance(ms) {
      now += ms;
      for (const t of [...timers].sort((a, b) => a.at - b.at)) {
        if (t.at <= now && timers.delete(t)) t.fn();
      }
    },
    pending: () => timers.size,
  };
}

/** Lets queued promise callbacks run. */
const flush = () => new Promise((r) => setImmediate(r));

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
}

test("slots are granted up to the bound, then in FIFO order as they are released", async () => {
  const limit = new HelperSpawnLimit({ maxConcurrent: 2, clock: fakeClock() });
  const order: string[] = [];
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  const runs = ["a", "b", "c", "d", "e"].map((name) => {
    gates.set(name, deferred());
    return limit.run(name, () => {
      order.push(name);
      return gates.get(name)!.promise;
    });
  });
  await flush();
  assert.deepEqual(order, ["a", "b"]);
  assert.equal(limit.active, 2);
  assert.equal(limit.queued, 3);
  gates.get("b")!.resolve();
  await flush();
  assert.deepEqual(order, ["a", "b", "c"]);
  gates.get("a")!.resolve();
  await flush();
  assert.deepEqual(order, ["a", "b", "c", "d"]);
  assert.equal(limit.active, 2);
  gates.get("c")!.resolve();
  gates.get("d")!.resolve();
  await flush();
  assert.deepEqual(order, ["a", "b", "c", "d", "e"]);
  gates.get("e")!.resolve();
  await Promise.all(runs);
  assert.equal(limit.active, 0);
  assert.equal(limit.queued, 0);
});

test("a request beyond maxWaiters is refused at once with a host-overloaded error", async () => {
  const limit = new HelperSpawnLimit({ maxConcurrent: 1, maxWaiters: 2, clock: fakeClock() });
  const hold = deferred();
  const first = limit.run("first", () => hold.promise);
  const w1 = limit.acquire("w1");
  const w2 = limit.acquire("w2");
  await assert.rejects(limit.acquire("Room API listener on 127.0.0.1:8078"), (err: Error) => {
    assert.ok(err instanceof NetnsError);
    assert.match(err.message, /host overloaded: cannot start the Room API listener on 127\.0\.0\.1:8078: 2 namespace helpers are already waiting to start \(limit 2\)/);
    return true;
  });
  assert.equal(limit.queued, 2);
  hold.resolve();
  await first;
  (await w1)();
  (await w2)();
  assert.equal(limit.active, 0);
});

test("the queue timeout counts only the wait for a slot; a granted helper is never timed out by the limit", async () => {
  const clock = fakeClock();
  const limit = new HelperSpawnLimit({ maxConcurrent: 1, queueTimeoutMs: 60_000, clock });
  const hold = deferred();
  let startedAt: number | null = null;
  const first = limit.run("first", () => hold.promise);
  // Queued behind `first`: its own start-up work (and the timeout it would set) begins only
  // once the slot is granted, however long it waited.
  const second = limit.run("second", async () => {
    startedAt = clock.now();
    return "second ran";
  });
  clock.advance(59_999);
  await flush();
  assert.equal(startedAt, null);
  hold.resolve();
  await first;
  assert.equal(await second, "second ran");
  assert.equal(startedAt, 59_999);
  assert.equal(clock.pending(), 0, "the granted waiter's queue timer was cancelled");

  // The holder of a slot is not limited by queueTimeoutMs.
  const long = deferred<string>();
  const holder = limit.run("holder", () => long.promise);
  clock.advance(10 * 60_000);
  long.resolve("done");
  assert.equal(await holder, "done");
});

test("a request that waits longer than queueTimeoutMs fails saying the host is overloaded, and leaves the queue", async () => {
  const clock = fakeClock();
  const limit = new HelperSpawnLimit({ maxConcurrent: 1, queueTimeoutMs: 60_000, clock });
  const hold = deferred();
  const first = limit.run("first", () => hold.promise);
  let ran = false;
  const late = limit.run("probe helper", async () => { ran = true; });
  const next = limit.run("next", async () => "next ran");
  clock.advance(60_000);
  await assert.rejects(late, /host overloaded: the probe helper waited 60000 ms for one of 1 helper start-up slots/);
  assert.equal(limit.queued, 0); // `next` timed out too (same deadline)
  await assert.rejects(next, /host overloaded/);
  hold.resolve();
  await first;
  assert.equal(ran, false);
  assert.equal(limit.active, 0);
  assert.equal(await limit.run("after", async () => "fresh"), "fresh");
});

test("a failing start releases its slot to the next waiter; releasing twice frees only one slot", async () => {
  const limit = new HelperSpawnLimit({ maxConcurrent: 1, clock: fakeClock() });
  const failing = limit.run("failing", async () => { throw new Error("nsenter: cannot open /proc/1/ns/net"); });
  const after = limit.run("after", async () => "after ran");
  await assert.rejects(failing, /nsenter/);
  assert.equal(await after, "after ran");
  assert.equal(limit.active, 0);

  const release = await limit.acquire("manual");
  const waiter = limit.acquire("waiter");
  release();
  release(); // a second call must not free the slot `waiter` now holds
  const releaseWaiter = await waiter;
  assert.equal(limit.active, 1);
  let thirdGranted = false;
  const third = limit.acquire("third").then((r) => { thirdGranted = true; return r; });
  await flush();
  assert.equal(thirdGranted, false);
  releaseWaiter();
  (await third)();
  assert.equal(limit.active, 0);
});

test("bounds out of range are refused with the field, the range and the value; the runtimes pass them through", async () => {
  assert.throws(() => new HelperSpawnLimit({ maxConcurrent: 0 }), { name: "RangeError", message: "helperSpawns.maxConcurrent: expected an integer from 1 to 1024, got 0" });
  assert.throws(() => new HelperSpawnLimit({ maxWaiters: 1.5 }), /helperSpawns\.maxWaiters: expected an integer from 0 to 1000000, got 1\.5/);
  assert.throws(() => new HelperSpawnLimit({ queueTimeoutMs: 10 }), /helperSpawns\.queueTimeoutMs: expected an integer from 1000 to 3600000, got 10/);
  const limit = new HelperSpawnLimit({ maxConcurrent: 3, maxWaiters: 7, queueTimeoutMs: 5000 });
  assert.deepEqual([limit.maxConcurrent, limit.maxWaiters, limit.queueTimeoutMs], [3, 7, 5000]);
  // The sandbox runtime hands its options to its limit (the docker runtime does the same).
  const { SandboxRuntime } = await import("../src/index.ts");
  const rt = new SandboxRuntime({ ownerId: "test-limits", logger: { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } }, helperSpawns: { maxConcurrent: 5, queueTimeoutMs: 2000 } });
  assert.deepEqual([rt.helperSpawns.maxConcurrent, rt.helperSpawns.maxWaiters, rt.helperSpawns.queueTimeoutMs], [5, 1000, 2000]);
  assert.throws(() => new SandboxRuntime({ ownerId: "test-limits", logger: { info() {}, warn() {}, error() {}, debug() {}, child() { return this; } }, helperSpawns: { maxConcurrent: -1 } }), /helperSpawns\.maxConcurrent/);
  await rt.close();
});
