/**
 * A ServiceDriver with no Docker behind it, and a clock whose timers only fire when the test
 * advances time: the supervisor's arithmetic (backoff, single-flight restart, retries, event
 * texts) is tested exactly and instantly.
 */
import type { CheckResult } from "../src/probes.ts";
import { LaunchFailure, type ExitInfo, type LaunchHooks, type RunningInstance, type ServiceDriver } from "../src/supervisor.ts";
import type { Clock, Logger, ProbeAction, ServiceLaunchSpec } from "../src/index.ts";

/** Lets pending promise callbacks run (several hops of async functions). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  t = 1_000_000;
  private timers: { at: number; fn: () => void; seq: number }[] = [];
  private seq = 0;

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, seq: this.seq++ };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** Pending timer delays from now, in order. */
  pending(): number[] {
    return this.timers.map((x) => x.at - this.t).sort((a, b) => a - b);
  }

  /** Moves time forward, firing due timers in order and letting their effects settle. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = target;
    await settle();
  }
}

export class FakeInstance implements RunningInstance {
  readonly id: string;
  readonly exited: Promise<ExitInfo>;
  readonly signals: string[] = [];
  readonly spec: ServiceLaunchSpec;
  readonly hooks: LaunchHooks;
  ended = false;
  removed = false;
  /** What a stop signal (not SIGKILL) does: exit with this code, or nothing (ignores it). */
  onTerm: number | null;
  private resolveExit!: (e: ExitInfo) => void;

  constructor(id: string, spec: ServiceLaunchSpec, hooks: LaunchHooks, onTerm: number | null) {
    this.id = id;
    this.spec = spec;
    this.hooks = hooks;
    this.onTerm = onTerm;
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  exit(exitCode: number, oomKilled = false): void {
    if (this.ended) return;
    this.ended = true;
    this.hooks.outputEnd("stdout");
    this.hooks.outputEnd("stderr");
    this.resolveExit({ exitCode, oomKilled });
  }

  async signal(sig: string): Promise<void> {
    this.signals.push(sig);
    if (sig === "SIGKILL") this.exit(137);
    else if (this.onTerm !== null) this.exit(this.onTerm);
  }

  async exec(): Promise<CheckResult> {
    return { ok: true };
  }

  async remove(): Promise<void> {
    this.removed = true;
  }
}

export class FakeDriver implements ServiceDriver {
  readonly instances: FakeInstance[] = [];
  /** Failures to throw from the next launches, in order. */
  failNext: LaunchFailure[] = [];
  /** Ports that answer a TCP check (someone listens there). */
  listening = new Set<number>();
  /** Exit code of new instances on SIGTERM (null: they ignore it). */
  onTerm: number | null = 0;
  /** New instances exit at once with this code (a crash loop), unless null. */
  crashWith: number | null = null;
  released = 0;

  async launch(spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance> {
    await Promise.resolve();
    const failure = this.failNext.shift();
    if (failure !== undefined) throw failure;
    const inst = new FakeInstance(`fake${String(this.instances.length + 1).padStart(12, "0")}`, spec, hooks, this.onTerm);
    this.instances.push(inst);
    hooks.created(inst.id);
    if (this.crashWith !== null) {
      const code = this.crashWith;
      queueMicrotask(() => inst.exit(code));
    }
    return inst;
  }

  async netCheck(action: Exclude<ProbeAction, { kind: "exec" }>): Promise<CheckResult> {
    return this.listening.has(action.port) ? { ok: true } : { ok: false, error: "ECONNREFUSED" };
  }

  async release(): Promise<void> {
    this.released++;
  }

  /** Instances whose process has not ended. */
  live(): FakeInstance[] {
    return this.instances.filter((i) => !i.ended);
  }
}

export const quietLogger: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quietLogger };

export function fakeSpec(serviceId: string, over: Partial<ServiceLaunchSpec> = {}): ServiceLaunchSpec {
  return {
    serviceId,
    name: serviceId,
    image: "fake:1",
    env: {},
    secretFiles: {},
    mounts: [],
    ports: [],
    probes: {},
    restart: { policy: "always", initialBackoffMs: 100, maxBackoffMs: 400, resetAfterMs: 1000 },
    stop: { signal: "SIGTERM", gracePeriodMs: 500 },
    resources: {},
    writableRootFs: false,
    ...over,
  };
}
