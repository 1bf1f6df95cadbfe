/**
 * A bound on how many namespace helpers (listen-child, probe-child, connect-child: each one
 * `nsenter` + a Node start-up, ~40 ms of CPU on an idle machine) start at the same time.
 *
 * Why: 50 rooms starting at once spawned ~100 Node processes together on 2 cores; each
 * helper's start-up timeout ran while it waited for CPU, and a third of the rooms failed
 * with "no answer within 10000 ms" (docs/benchmarks.md, figure 7). With the limit, helpers
 * start a few at a time in FIFO order, and a helper's own timeout counts from when its slot
 * is granted, not from when it was asked for. Waiting for a slot has its own, much longer
 * bound (`queueTimeoutMs`) and a bounded queue (`maxWaiters`), whose errors say the host is
 * overloaded rather than blaming the namespace.
 *
 * One instance per runtime, injected into every helper (no module-level singleton).
 */
import { availableParallelism } from "node:os";
import type { Clock } from "../types.ts";
import { NetnsError } from "./listener.ts";

export interface HelperSpawnLimitOptions {
  /** Helpers starting at once. Default: 2 per CPU (a start-up is mostly CPU, with some exec/IPC waits). */
  maxConcurrent?: number;
  /** Requests allowed to wait for a slot; one more is refused at once. Default: 1000. */
  maxWaiters?: number;
  /** How long a request may wait for a slot before failing, in ms. Default: 120 000. */
  queueTimeoutMs?: number;
  /** For timers (tests inject a fake one). Default: the real setTimeout. */
  clock?: Clock;
}

/** The configurable bounds of HelperSpawnLimitOptions, with the ranges they must fall in. */
export const HELPER_SPAWN_BOUNDS = {
  maxConcurrent: { min: 1, max: 1024 },
  maxWaiters: { min: 0, max: 1_000_000 },
  queueTimeoutMs: { min: 1000, max: 3_600_000 },
} as const;

/**
 * Checks the configurable bounds; throws a RangeError naming the field, the range expected
 * and the value given (`helperSpawns.maxConcurrent: expected an integer from 1 to 1024, got 0`).
 */
export function validateHelperSpawnOptions(o: Pick<HelperSpawnLimitOptions, "maxConcurrent" | "maxWaiters" | "queueTimeoutMs">, path = "helperSpawns"): void {
  for (const key of ["maxConcurrent", "maxWaiters", "queueTimeoutMs"] as const) {
    const v = o[key];
    if (v === undefined) continue;
    const { min, max } = HELPER_SPAWN_BOUNDS[key];
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${path}.${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
}

/** Lets the holder of a slot give it back; calling it more than once is harmless. */
export type ReleaseSlot = () => void;

type Waiter = { what: string; grant: (release: ReleaseSlot) => void; cancelTimer: () => void };

function realTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
}

export class HelperSpawnLimit {
  readonly maxConcurrent: number;
  readonly maxWaiters: number;
  readonly queueTimeoutMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  private running = 0;
  private readonly waiters: Waiter[] = [];

  /** Throws a RangeError for a bound out of HELPER_SPAWN_BOUNDS (validateHelperSpawnOptions). */
  constructor(o: HelperSpawnLimitOptions = {}) {
    validateHelperSpawnOptions(o);
    this.maxConcurrent = Math.max(1, o.maxConcurrent ?? 2 * availableParallelism());
    this.maxWaiters = Math.max(0, o.maxWaiters ?? 1000);
    this.queueTimeoutMs = o.queueTimeoutMs ?? 120_000;
    this.setTimer = o.clock?.setTimer ?? realTimer;
  }

  /** Helpers holding a slot now. */
  get active(): number {
    return this.running;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiters.length;
  }

  /**
   * Waits for a slot (FIFO) and resolves with its release function. `what` names the helper
   * for error messages. Rejects with NetnsError when `maxWaiters` are already waiting or no
   * slot came within `queueTimeoutMs`.
   */
  acquire(what: string): Promise<ReleaseSlot> {
    if (this.running < this.maxConcurrent && this.waiters.length === 0) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiters.length >= this.maxWaiters) {
      return Promise.reject(new NetnsError(`host overloaded: cannot start the ${what}: ${this.waiters.length} namespace helpers are already waiting to start (limit ${this.maxWaiters})`));
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const w: Waiter = {
        what,
        grant: (release) => { w.cancelTimer(); resolve(release); },
        cancelTimer: () => {},
      };
      w.cancelTimer = this.setTimer(() => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        reject(new NetnsError(`host overloaded: the ${what} waited ${this.queueTimeoutMs} ms for one of ${this.maxConcurrent} helper start-up slots (${this.waiters.length} still waiting)`));
      }, this.queueTimeoutMs);
      this.waiters.push(w);
    });
  }

  /**
   * Runs `start` holding a slot, and releases the slot when the promise it returns settles
   * (either way), so a failing helper never leaks a slot. `start`'s own timeouts begin only
   * when it is called, i.e. once the slot is granted.
   */
  async run<T>(what: string, start: () => Promise<T>): Promise<T> {
    const release = await this.acquire(what);
    try {
      return await start();
    } finally {
      release();
    }
  }

  private releaser(): ReleaseSlot {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter: `running` stays the same.
      if (next !== undefined) next.grant(this.releaser());
      else this.running--;
    };
  }
}
