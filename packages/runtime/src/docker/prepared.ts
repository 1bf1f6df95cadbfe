/**
 * Rooms prepared ahead of their next session: a room namespace (pause container, probe
 * helper, Room API listener) plus one *held* container per service — created and started
 * with everything but the session's values, its command not yet running: the envexec
 * launcher inside waits (in inotify, no CPU) for the start file. A session that takes the
 * room writes its token and id into each service's /run/secrets (tmpfs) and the start file,
 * so the critical path loses the pause container, every create and every start.
 *
 * Held containers are single-use: made for one session, removed with it (a second run of a
 * service, a restart, is an ordinary launch). They never see another session's values.
 * An entry is keyed per service by specKey (the configuration as the container sees it, file
 * mounts' text included: their files are written into the entry's own directory when the
 * container is made) and the image id; a session whose spec differs launches that service
 * normally and the held container is removed. Every container carries the owner label and the entry id as its
 * session and pool labels, so reapOrphans removes what a killed server left.
 */
import type { Server } from "node:net";
import type { Readable } from "node:stream";
import type { NetnsProber } from "../netns/prober.ts";
import { writeFileMounts } from "../file-mounts.ts";
import { SessionSecrets } from "../secrets.ts";
import type { Logger, ServiceLaunchSpec } from "../types.ts";
import { containerName } from "./container.ts";
import { DockerError, type DockerEngine } from "./engine.ts";
import type { DockerEventWatcher } from "./events.ts";
import { createContainer, LABEL, planContainer, specKey } from "./plan.ts";

/** A ready room network namespace (from the runtime's pool or made for the entry). */
export interface RoomNamespace {
  pauseId: string;
  netnsPath: string;
  /** Labels the pause container (session and pool labels); a prepared room's id. */
  poolId: string;
  prober: NetnsProber;
  listener: Promise<Server> | null;
}

/** A service container created and started ahead of its session, waiting in its launcher. */
export interface HeldContainer {
  id: string;
  serviceId: string;
  key: string;
  imageId: string;
  /** Attached before the start, so nothing the command prints is missed. */
  output: Readable | null;
  /** Docker reported it died or was removed while held. */
  gone: boolean;
  unwatch: () => void;
}

/**
 * preparing → ready (→ taken by a session); dropped at any point (replaced, evicted, closed),
 * after which its containers and files are removed.
 */
type EntryState = { kind: "preparing" } | { kind: "ready" } | { kind: "taken" } | { kind: "dropped" };

export class PreparedRoom {
  readonly room: string;
  state: EntryState = { kind: "preparing" };
  ns: RoomNamespace | null = null;
  nsGone = false;
  readonly held = new Map<string, HeldContainer>();
  /** specKey per service id, as asked for (to tell whether a new request changes anything). */
  readonly keys: Map<string, string>;
  done: Promise<void> = Promise.resolve();
  cleanup: Promise<void> | null = null;
  unwatchPause: () => void = () => {};

  constructor(room: string, specs: ServiceLaunchSpec[]) {
    this.room = room;
    this.keys = new Map(specs.map((s) => [s.serviceId, specKey(s)]));
  }

  get id(): string | null {
    return this.ns?.poolId ?? null;
  }

  sameKeys(specs: ServiceLaunchSpec[]): boolean {
    return specs.length === this.keys.size && specs.every((s) => this.keys.get(s.serviceId) === specKey(s));
  }
}

export interface PreparedDeps {
  docker: DockerEngine;
  ownerId: string;
  secretsRoot: string;
  log: Logger;
  events: DockerEventWatcher;
  /** A ready namespace for `room` (pooled, renamed after the room, or new). */
  takeNamespace(room: string): Promise<RoomNamespace>;
  discardNamespace(ns: RoomNamespace): Promise<void>;
}

export class PreparedRooms {
  /** By room; Map order is least recently prepared first (evicted first). */
  private readonly rooms = new Map<string, PreparedRoom>();
  private readonly busy = new Set<Promise<void>>();
  private readonly d: PreparedDeps;
  private readonly max: number;
  private closed = false;

  constructor(d: PreparedDeps, max: number) {
    this.d = d;
    this.max = max;
  }

  /** Preparations and removals under way (benchmarks wait for 0 before timing). */
  get pending(): number {
    return this.busy.size;
  }

  /** Whether `room` has a prepared entry that is ready to be taken. */
  isReady(room: string): boolean {
    return this.rooms.get(room)?.state.kind === "ready";
  }

  /** Rooms with an entry (preparing or ready), least recently prepared first. */
  roomNames(): string[] {
    return [...this.rooms.keys()];
  }

  /** Session labels and secrets dirs of entries waiting here (reapOrphans must keep them). */
  liveIds(): string[] {
    return [...this.rooms.values()].flatMap((e) => (e.id !== null ? [e.id] : []));
  }

  private track(p: Promise<void>): void {
    const t = p.catch((err) => this.d.log.warn({ err }, "preparing or removing a prepared room failed")).finally(() => this.busy.delete(t));
    this.busy.add(t);
  }

  /** See Runtime.prepareRoom. */
  prepare(room: string, specs: ServiceLaunchSpec[]): void {
    if (this.closed || this.max <= 0) return;
    const existing = this.rooms.get(room);
    if (existing !== undefined) {
      this.rooms.delete(room);
      if (specs.length > 0 && existing.state.kind !== "dropped" && !existing.nsGone && existing.sameKeys(specs)) {
        this.rooms.set(room, existing); // most recently asked for
        return;
      }
      this.drop(existing);
    }
    if (specs.length === 0) return;
    const entry = new PreparedRoom(room, specs);
    this.rooms.set(room, entry);
    entry.done = this.run(entry, specs);
    this.track(entry.done);
    for (const [r, e] of this.rooms) {
      if (this.rooms.size <= this.max) break;
      this.rooms.delete(r);
      this.drop(e);
    }
  }

  private async run(entry: PreparedRoom, specs: ServiceLaunchSpec[]): Promise<void> {
    const { docker, log } = this.d;
    const ns = await this.d.takeNamespace(entry.room);
    entry.ns = ns;
    entry.unwatchPause = this.d.events.onGone(ns.pauseId, () => (entry.nsGone = true));
    if (entry.state.kind === "dropped") return;
    const secrets = new SessionSecrets(this.d.secretsRoot, this.d.ownerId, ns.poolId);
    await Promise.all(specs.map(async (spec) => {
      try {
        await secrets.write(spec.serviceId, {});
        // The entry's own copies (its dir goes with it): nothing runs in the container before
        // its session, so a writable file still holds the manifest's text when the session starts.
        const fileBinds = await writeFileMounts(secrets, spec);
        const plan = await planContainer(docker, spec, {
          ownerId: this.d.ownerId, room: entry.room, sessionLabel: ns.poolId, pauseId: ns.pauseId,
          secretsDir: secrets.serviceDir(spec.serviceId), hold: true, labels: { [LABEL.pool]: ns.poolId }, fileBinds,
        });
        if (entry.state.kind === "dropped") return;
        const id = await createContainer(docker, containerName(entry.room, spec.name), spec, plan.body);
        const held: HeldContainer = { id, serviceId: spec.serviceId, key: specKey(spec), imageId: plan.image!.id, output: null, gone: false, unwatch: () => {} };
        entry.held.set(spec.serviceId, held);
        held.unwatch = this.d.events.onGone(id, () => (held.gone = true));
        held.output = await docker.attach(id).catch(() => null);
        held.output?.on("error", () => {}); // read (and its errors handled) once a session takes it
        await docker.json({ method: "POST", path: `/containers/${id}/start` });
      } catch (err) {
        // That service starts the ordinary way at the session; the others are still held.
        log.debug({ err, room: entry.room, service: spec.serviceId }, "could not prepare a held container");
        const held = entry.held.get(spec.serviceId);
        entry.held.delete(spec.serviceId);
        if (held !== undefined) await removeHeld(docker, held);
      }
    }));
    if (entry.state.kind === "preparing") entry.state = { kind: "ready" };
    log.debug({ room: entry.room, held: entry.held.size, of: specs.length }, "room prepared");
  }

  /**
   * Hands `room`'s entry to a session (waiting for a preparation under way), or null when
   * there is none usable. The caller owns it from then on (and removes what it does not use).
   */
  async take(room: string): Promise<PreparedRoom | null> {
    const entry = this.rooms.get(room);
    if (entry === undefined) return null;
    this.rooms.delete(room);
    await entry.done.catch(() => undefined);
    if (entry.state.kind !== "ready" || entry.ns === null || entry.nsGone) {
      this.drop(entry);
      return null;
    }
    entry.state = { kind: "taken" };
    entry.unwatchPause();
    return entry;
  }

  /** Removes an entry's containers, files and namespace (once, after its preparation settles). */
  private drop(entry: PreparedRoom): void {
    entry.state = { kind: "dropped" };
    entry.cleanup ??= (async () => {
      await entry.done.catch(() => undefined);
      entry.unwatchPause();
      await Promise.all([...entry.held.values()].map((h) => removeHeld(this.d.docker, h)));
      entry.held.clear();
      if (entry.ns !== null) {
        await new SessionSecrets(this.d.secretsRoot, this.d.ownerId, entry.ns.poolId).removeAll().catch(() => {});
        await this.d.discardNamespace(entry.ns);
      }
    })();
    this.track(entry.cleanup);
  }

  /** Drops every entry and waits until all are removed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.rooms.values()) this.drop(e);
    this.rooms.clear();
    while (this.busy.size > 0) await Promise.allSettled([...this.busy]);
  }
}

/** Removes a held container that no session will use. */
export async function removeHeld(docker: DockerEngine, h: HeldContainer): Promise<void> {
  h.unwatch();
  h.output?.destroy();
  try {
    await docker.json({ method: "DELETE", path: `/containers/${h.id}`, query: { force: 1, v: 1 } });
  } catch (err) {
    if (!(err instanceof DockerError && (err.status === 404 || err.status === 409))) throw err;
  }
}
