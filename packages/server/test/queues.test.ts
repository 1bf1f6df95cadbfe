import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer } from "./helpers.ts";

test("queues: 1,000 messages arrive exactly once and in order at a waiting receiver; empty receive without wait returns at once; a full queue refuses", { timeout: 120_000 }, async () => {
  const ts = await startTestServer({ queueLimits: { maxMessagesPerQueue: 50 } as never });
  try {
    const sender = await ts.client("q-room", "producer");
    const worker = await ts.client("q-room", "worker", { role: "agent" });

    assert.equal(await worker.queues.receive("empty", { create: true, wait: false }), null, "empty queue, wait: false → null at once");

    // The worker waits first; every send wakes it.
    const got: number[] = [];
    const receiving = (async () => {
      while (got.length < 1000) {
        const m = await worker.queues.receive("jobs", { create: true, wait: true });
        got.push(m.n);
      }
    })();
    for (let n = 0; n < 1000; n++) await sender.queues.send("jobs", { n }, { create: true });
    await receiving;
    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i), "each message once, in order");
    assert.equal(await worker.queues.receive("jobs", { create: false, wait: false }), null, "nothing left over");

    const list = await sender.queues.list();
    assert.deepEqual(list.map((q: any) => q.name).sort(), ["empty", "jobs"]);

    for (let n = 0; n < 50; n++) await sender.queues.send("full", { n }, { create: true });
    await assert.rejects(sender.queues.send("full", { n: 50 }, { create: true }), /queue "full" is full \(50 messages, limit 50\)/);
    await sender.queues.drain("full");
    await sender.queues.send("full", { n: 51 }, { create: true });

    await assert.rejects(sender.queues.send("nope", { x: 1 }, { create: false }), /queue "nope" does not exist/);
    await sender.queues.close("full");
    assert.deepEqual((await sender.queues.list()).map((q: any) => q.name).sort(), ["empty", "jobs"]);
  } finally {
    await ts.close();
  }
});

test("queues: a message leased to a receiver that leaves goes back to the next receiver", async () => {
  const ts = await startTestServer();
  try {
    const sender = await ts.client("lease-room", "producer");
    const w1 = await ts.client("lease-room", "w1", { role: "agent" });
    await sender.queues.send("q", { n: 1 }, { create: true });
    await sender.queues.send("q", { n: 2 }, { create: true });
    assert.deepEqual(await w1.queues.receive("q", { wait: false }), { n: 1 });
    w1.dispose(); // leaves without asking for the next one: n=1 was never acknowledged
    const w2 = await ts.client("lease-room", "w2", { role: "agent" });
    const first = await w2.queues.receive("q", { wait: true });
    // The lease returns when the server sees w1 leave; until then w2 may get n=2 first.
    const second = await w2.queues.receive("q", { wait: true });
    assert.deepEqual([first.n, second.n].sort(), [1, 2]);
  } finally {
    await ts.close();
  }
});

test("queues: messages survive a server restart; a session end drops a queue unless it was opened durable", { timeout: 60_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-queues-"));
  const secret = "queues-secret";
  try {
    let ts = await startTestServer({ dataDir, secret, departureTimeoutMs: 100 });
    let c = await ts.client("r", "alice");
    await c.invoke({ toolkit: "queues", tool: "open", arguments: { name: "keep", durable: true } });
    await c.queues.send("keep", { v: "durable" }, { create: true });
    await c.queues.send("temp", { v: "transient" }, { create: true });
    await ts.close();

    ts = await startTestServer({ dataDir, secret, departureTimeoutMs: 100 });
    c = await ts.client("r", "alice");
    assert.deepEqual(await c.queues.receive("temp", { create: false, wait: false }), { v: "transient" }, "restart kept the message");
    c.dispose();
    const until = Date.now() + 10_000;
    while (ts.server.rooms.get("r") !== undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    c = await ts.client("r", "bob");
    assert.deepEqual((await c.queues.list()).map((q: any) => q.name), ["keep"], "the session end dropped the transient queue");
    assert.deepEqual(await c.queues.receive("keep", { create: false, wait: false }), { v: "durable" });
    await ts.close();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
