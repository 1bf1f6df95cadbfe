/**
 * How the Storage panel follows the room's files (src/storage-follow.ts): which storage
 * events concern the folder on screen, and the reload scheduler that makes a burst of events
 * a bounded number of listings (one at a time, spaced by at least the last one's duration).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReloadScheduler, touchesFolder, type Timers } from "../src/storage-follow.ts";

test("events that concern a folder: its own files, a new child folder, the folder itself; not deeper changes in listed folders, not elsewhere", () => {
  const listed = new Set(["a.txt", "out"]);
  assert.equal(touchesFolder("", "a.txt", listed), true);
  assert.equal(touchesFolder("", "new.txt", listed), true);
  assert.equal(touchesFolder("", "out/x.csv", listed), false, "out is listed; its contents are not on screen");
  assert.equal(touchesFolder("", "fresh/deep/x", listed), true, "a new folder appears");
  assert.equal(touchesFolder("out", "out/x.csv", new Set()), true);
  assert.equal(touchesFolder("out", "outbox/x.csv", new Set()), false, "a sibling whose name starts alike");
  assert.equal(touchesFolder("out", "out", new Set()), true, "the folder itself");
  assert.equal(touchesFolder("out", "elsewhere/x", new Set()), false);
});

/** Timers a test advances by hand. */
function fakeTimers(): Timers & { advance(ms: number): Promise<void>; pending(): number } {
  let now = 0;
  let next = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = next++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
    pending: () => timers.size,
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await new Promise((r) => setImmediate(r));
      }
      now = end;
      await new Promise((r) => setImmediate(r));
    },
  };
}

test("a burst of changes is one reload; changes during a reload make exactly one more, after a pause as long as the reload took", async () => {
  const timers = fakeTimers();
  let loads = 0;
  let finish: (() => void) | null = null;
  const r = new ReloadScheduler(() => {
    loads++;
    return new Promise<void>((res) => (finish = res));
  }, { timers, quietMs: 300 });
  for (let i = 0; i < 1000; i++) r.changed();
  await timers.advance(299);
  assert.equal(loads, 0, "waits for quiet");
  await timers.advance(1);
  assert.equal(loads, 1, "one reload for the burst");
  // The listing takes 2 s; 500 more changes arrive meanwhile.
  for (let i = 0; i < 500; i++) r.changed();
  await timers.advance(2000);
  finish!();
  await timers.advance(0);
  assert.equal(loads, 1, "never two at once");
  await timers.advance(1999);
  assert.equal(loads, 1, "the next one waits as long as the last took");
  await timers.advance(1);
  assert.equal(loads, 2, "exactly one more");
  finish!();
  await timers.advance(10_000);
  assert.equal(loads, 2, "nothing more without changes");
  r.changed();
  r.close();
  await timers.advance(10_000);
  assert.equal(loads, 2, "closed: a pending reload is dropped");
  assert.equal(timers.pending(), 0);
});
