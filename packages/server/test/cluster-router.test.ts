import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { RoomRouter } from "../src/cluster/router.ts";
import type { HeldLease, LeaseOwner, LeaseTable } from "../src/cluster/leases.ts";
import { FakeClock } from "./fake-clock.ts";

// The router's own rules, against an in-memory lease table and a fake clock: when a lease is
// trusted, when it is given up, and that concurrent first connections share one acquisition.
// (The database side — one winner per room — is tested against PostgreSQL in cluster-lease.)

class MemoryLeases {
  rows = new Map<string, { node: string; token: number }>();
  acquires = 0;
  failRenew = false;
  private seq = 0;
  private readonly node: string;
  constructor(node: string) {
    this.node = node;
  }
  async acquire(room: string): Promise<HeldLease | null> {
    this.acquires++;
    const r = this.rows.get(room);
    if (r !== undefined && r.node !== this.node) return null;
    const token = ++this.seq;
    this.rows.set(room, { node: this.node, token });
    return { room, token: String(token) };
  }
  async owner(room: string): Promise<LeaseOwner> {
    const r = this.rows.get(room);
    return r === undefined ? { kind: "none" } : { kind: "node", nodeId: r.node, url: `http://${r.node}`, token: String(r.token) };
  }
  async renew(leases: HeldLease[]): Promise<Set<string>> {
    if (this.failRenew) throw new Error("database unreachable");
    return new Set(leases.filter((l) => this.rows.get(l.room)?.node === this.node && String(this.rows.get(l.room)!.token) === l.token).map((l) => l.room));
  }
  async release(l: HeldLease): Promise<void> {
    if (this.rows.get(l.room)?.node === this.node) this.rows.delete(l.room);
  }
}

function setup(onAcquired: (room: string) => Promise<void> = async () => undefined) {
  const clock = new FakeClock(1_000_000);
  const leases = new MemoryLeases("me");
  const lost: string[] = [];
  const busy = new Set<string>();
  const router = new RoomRouter({
    leases: leases as unknown as LeaseTable, nodeId: "me", clock, logger: pino({ level: "silent" }),
    timing: { leaseTtlMs: 10_000, renewIntervalMs: 2_500, unusedGraceMs: 5_000 },
    isBusy: (r) => busy.has(r), onLeaseLost: (r) => lost.push(r), onAcquired,
  });
  return { clock, leases, lost, busy, router };
}

test("concurrent first connections on one node share one acquisition", async () => {
  const { router, leases } = setup();
  const routes = await Promise.all(Array.from({ length: 20 }, () => router.route("r")));
  assert.equal(leases.acquires, 1);
  assert.ok(routes.every((r) => r.kind === "local" && r.token === "1"));
});

test("a room owned elsewhere is routed to its owner", async () => {
  const { router, leases } = setup();
  leases.rows.set("r", { node: "other", token: 7 });
  assert.deepEqual(await router.route("r"), { kind: "remote", nodeId: "other", url: "http://other" });
});

test("renewal failures: the lease is trusted until sent + TTL - renewInterval, then the room is ended here", async () => {
  const { router, leases, lost, busy, clock } = setup();
  busy.add("r");
  await router.route("r");
  leases.failRenew = true;
  clock.advance(5_000);
  await router.tick();
  assert.deepEqual(lost, [], "still inside the trust window (7.5 s)");
  assert.equal(router.token("r"), "1");
  clock.advance(2_500);
  assert.equal(router.token("r"), null, "at 7.5 s the node stops trusting the lease");
  await router.tick();
  assert.deepEqual(lost, ["r"], "and ends the room on the next round");
});

test("a lease another node took is lost at the next renewal", async () => {
  const { router, leases, lost, busy } = setup();
  busy.add("r");
  await router.route("r");
  leases.rows.set("r", { node: "other", token: 9 });
  await router.tick();
  assert.deepEqual(lost, ["r"]);
  assert.equal(router.token("r"), null);
});

test("an idle room's lease is given back after the grace; a busy one is kept and renewed", async () => {
  const { router, leases, busy, clock } = setup();
  busy.add("kept");
  await router.route("kept");
  await router.route("idle");
  clock.advance(4_000);
  await router.tick();
  assert.ok(leases.rows.has("idle"), "within the grace a handshake may still be on its way");
  clock.advance(2_000);
  await router.tick();
  assert.ok(!leases.rows.has("idle"), "released");
  assert.ok(leases.rows.has("kept"));
  assert.deepEqual(router.heldRooms(), ["kept"]);
  // A new connection takes a fresh lease (a larger token).
  const again = await router.route("idle");
  assert.equal(again.kind, "local");
  assert.ok(again.kind === "local" && Number(again.token) > 1);
});

test("a renewal stuck on a silent database does not delay the loss: the watchdog ends the room when its trust window closes", async () => {
  const { router, leases, clock, lost } = setup();
  await router.route("r");
  // The database stops answering: the renewal never returns.
  leases.renew = () => new Promise(() => undefined);
  void router.tick();
  clock.advance(7_000); // < ttl - renewInterval (7.5 s): still trusted
  router.expireOverdue();
  assert.deepEqual(lost, []);
  assert.ok(router.token("r"));
  clock.advance(600);
  router.expireOverdue();
  assert.deepEqual(lost, ["r"], "ended while the renewal is still pending");
  assert.equal(router.token("r"), null);
});

test("a room being taken over is served only once the takeover finished: later connections wait, the lease is not trusted or released meanwhile", async () => {
  let finish!: () => void;
  const gate = new Promise<void>((r) => (finish = r));
  const { router, leases, clock } = setup(() => gate);
  const first = router.route("r");
  await new Promise((r) => setImmediate(r));
  assert.equal(leases.acquires, 1, "the lease is taken");
  assert.equal(router.token("r"), null, "but not trusted while the previous owner's leftovers are cleared");
  let secondDone = false;
  const second = router.route("r").then((x) => ((secondDone = true), x));
  clock.advance(6_000); // past the unused grace: an idle lease would be given back
  await router.tick();
  await new Promise((r) => setImmediate(r));
  assert.equal(secondDone, false, "a second connection waits for the takeover");
  assert.ok(leases.rows.has("r"), "and the lease is not released as idle meanwhile");
  finish();
  assert.deepEqual(await first, { kind: "local", token: "1" });
  assert.deepEqual(await second, { kind: "local", token: "1" });
  assert.equal(router.token("r"), "1");
});

test("a takeover that fails gives the lease back and answers unavailable; the next connection tries again", async () => {
  let fail = true;
  const { router, leases } = setup(async () => {
    if (fail) throw new Error("database unreachable");
  });
  const r = await router.route("r");
  assert.equal(r.kind, "unavailable");
  assert.match((r as { reason: string }).reason, /could not be taken over here \(database unreachable\); retry/);
  assert.equal(leases.rows.has("r"), false, "the lease was given back");
  assert.equal(router.token("r"), null);
  fail = false;
  assert.deepEqual(await router.route("r"), { kind: "local", token: "2" });
});
