/**
 * Docker's event stream (GET /events) for one installation's containers, for what the
 * container API alone does not tell: the kernel OOM-killed a process inside a running
 * container (`oom`; the container may survive it), and a room's pause container died or was
 * removed from outside (`die`, `destroy`). Reconnects with backoff when the stream breaks.
 */
import type { Logger } from "../types.ts";
import { DockerEngine, jsonLines } from "./engine.ts";
import { LABEL } from "./container.ts";

interface DockerEvent {
  Type?: string;
  Action?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
}

type Listener = (action: string) => void;

const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5000;

export class DockerEventWatcher {
  private readonly docker: DockerEngine;
  private readonly ownerId: string;
  private readonly log: Logger;
  private readonly oom = new Map<string, Set<() => void>>();
  private readonly gone = new Map<string, Set<Listener>>();
  private ctl = new AbortController();
  private closed = false;
  private running: Promise<void> | null = null;
  /** Resolves once the first subscription is open (events before it are not seen). */
  private connected: Promise<void>;
  private markConnected: () => void = () => {};

  constructor(docker: DockerEngine, ownerId: string, log: Logger) {
    this.docker = docker;
    this.ownerId = ownerId;
    this.log = log;
    this.connected = new Promise((r) => (this.markConnected = r));
  }

  /** Starts watching (idempotent); resolves when the stream is open (or after 2 s at most). */
  start(): Promise<void> {
    this.running ??= this.loop();
    return Promise.race([this.connected, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
  }

  /** `fn` runs when the kernel reports an OOM kill in the container. Returns an unsubscribe. */
  onOom(containerId: string, fn: () => void): () => void {
    return add(this.oom, containerId, fn);
  }

  /** `fn(action)` runs when the container dies or is destroyed. Returns an unsubscribe. */
  onGone(containerId: string, fn: Listener): () => void {
    return add(this.gone, containerId, fn);
  }

  close(): void {
    this.closed = true;
    this.ctl.abort();
  }

  private async loop(): Promise<void> {
    let delay = RECONNECT_MIN_MS;
    let since: number | undefined;
    while (!this.closed) {
      try {
        const filters = JSON.stringify({ type: ["container"], event: ["oom", "die", "destroy"], label: [`${LABEL.owner}=${this.ownerId}`] });
        const res = await this.docker.raw({
          method: "GET", path: "/events", query: { filters, ...(since !== undefined ? { since } : {}) }, long: true, signal: this.ctl.signal,
        });
        this.markConnected();
        delay = RECONNECT_MIN_MS;
        for await (const e of jsonLines(res) as AsyncGenerator<DockerEvent>) {
          if (typeof e.time === "number") since = e.time;
          this.dispatch(e);
        }
      } catch (err) {
        if (this.closed) return;
        this.log.debug({ err }, "docker event stream broke; reconnecting");
      }
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, delay).unref());
      delay = Math.min(RECONNECT_MAX_MS, delay * 2);
    }
  }

  private dispatch(e: DockerEvent): void {
    const id = e.Actor?.ID ?? e.id;
    if (id === undefined || e.Action === undefined) return;
    const listeners = e.Action === "oom" ? this.oom.get(id) : this.gone.get(id);
    for (const fn of [...(listeners ?? [])]) {
      try {
        (fn as Listener)(e.Action);
      } catch (err) {
        this.log.error({ err }, "a docker event listener threw");
      }
    }
  }
}

function add<F>(map: Map<string, Set<F>>, key: string, fn: F): () => void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(fn);
  return () => {
    set!.delete(fn);
    if (set!.size === 0 && map.get(key) === set) map.delete(key);
  };
}
