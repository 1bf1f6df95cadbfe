/**
 * The Docker runtime: one pause container per room session holds the room's network
 * namespace; every service container joins it (`NetworkMode: container:<pause>`), so
 * services share 127.0.0.1 and rooms cannot reach each other.
 */
import type { Server, Socket } from "node:net";
import { NetnsProber } from "../netns/prober.ts";
import { roomApiFromListener, ROOM_API_PORT } from "../netns/listener.ts";
import { NetnsConnector } from "../netns/connector.ts";
import { HelperSpawnLimit, type HelperSpawnLimitOptions } from "../netns/spawn-limit.ts";
import { defaultSecretsRoot, reapSecretDirs, removeEmptySecretDirs, SessionSecrets } from "../secrets.ts";
import { LaunchFailure, ServiceSupervisor, startOrRestart, type LaunchHooks, type RunningInstance, type ServiceDriver } from "../supervisor.ts";
import type { Clock, Logger, ReapResult, RoomApiEndpoint, RoomSandbox, Runtime, ServiceConnector, ServiceHandle, ServiceLaunchSpec } from "../types.ts";
import { containerName, DockerServiceDriver, LABEL } from "./container.ts";
import { DockerEngine, DockerError } from "./engine.ts";
import { DockerEventWatcher } from "./events.ts";
import { ensurePauseImage } from "./images.ts";
import { DockerStatsSampler } from "./stats.ts";
import { inspectImage, specKey } from "./plan.ts";
import { PreparedRooms, removeHeld, type HeldContainer, type RoomNamespace } from "./prepared.ts";
import type { ResourceUsage } from "../stats.ts";

export interface DockerRuntimeOptions {
  /**
   * Stable per installation (e.g. derived from the data directory): every container, network
   * and secret file is labelled with it, and reapOrphans removes what a dead run left.
   */
  ownerId: string;
  logger: Logger;
  clock?: Clock;
  socketPath?: string;
  /** Where per-service secret dirs live; must be tmpfs to keep secrets off disk. Default /dev/shm/roomservice. */
  secretsRoot?: string;
  /**
   * "none" (default): a room has only its loopback — no egress, nothing else reachable.
   * "bridge": a per-room bridge network for egress (rooms still cannot reach each other:
   * Docker isolates bridge networks from one another).
   */
  network?: "none" | "bridge";
  /**
   * Room namespaces kept ready (pause container started, probe helper and Room API listener
   * opened) so a session's start does not wait for them. 0 disables the pool. Only used
   * with network "none".
   */
  poolSize?: number;
  /**
   * Rooms whose next session is prepared ahead (docker/prepared.ts: held service containers,
   * started and waiting for the session's values), most recent first; 0 (default) disables
   * it. Only with network "none" and when the envexec launcher can be compiled.
   */
  preparedRooms?: number;
  /**
   * Bounds on namespace helpers starting at once (netns/spawn-limit.ts): how many start at
   * the same time (default 2 × CPUs), how many may wait (1000) and for how long (120 s).
   * Out-of-range values throw a RangeError naming the field.
   */
  helperSpawns?: Pick<HelperSpawnLimitOptions, "maxConcurrent" | "maxWaiters" | "queueTimeoutMs">;
}

/** A ready room namespace waiting for a session. */
type PoolEntry = RoomNamespace;

const systemClock: Clock = { now: () => Date.now() };

/** Pings Docker first, so a missing daemon is reported here rather than at the first room. */
export async function createDockerRuntime(o: DockerRuntimeOptions): Promise<DockerRuntime> {
  const docker = new DockerEngine(o.socketPath);
  if (!(await docker.ping())) {
    docker.close();
    throw new DockerError(`Docker is not reachable at ${docker.socketPath}: start dockerd (or pass socketPath), or use the sandbox runtime`, 0);
  }
  return new DockerRuntime(o, docker);
}

export class DockerRuntime implements Runtime {
  readonly kind = "docker" as const;
  readonly docker: DockerEngine;
  readonly ownerId: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly secretsRoot: string;
  private readonly network: "none" | "bridge";
  private pauseImage: Promise<string> | null = null;
  /** Live sandboxes by session id: reapOrphans must never touch them. */
  private readonly live = new Map<string, DockerRoomSandbox>();
  private readonly pool: PoolEntry[] = [];
  private poolFilling = 0;
  /** Pool entries being prepared; close() waits for them so none outlives the runtime. */
  private readonly fills = new Set<Promise<void>>();
  private readonly poolSize: number;
  private closed = false;
  private readonly statsSampler: DockerStatsSampler;
  /** OOM reports and pause containers dying, from Docker's event stream. */
  readonly events: DockerEventWatcher;
  private readonly prepared: PreparedRooms;
  /** Bounds concurrent namespace-helper start-ups (listener, prober, connector) of this runtime. */
  readonly helperSpawns: HelperSpawnLimit;

  constructor(o: DockerRuntimeOptions, docker?: DockerEngine) {
    this.docker = docker ?? new DockerEngine(o.socketPath);
    this.ownerId = o.ownerId;
    this.log = o.logger.child({ runtime: "docker" });
    this.clock = o.clock ?? systemClock;
    this.helperSpawns = new HelperSpawnLimit({ ...o.helperSpawns, clock: this.clock });
    this.secretsRoot = o.secretsRoot ?? defaultSecretsRoot();
    this.network = o.network ?? "none";
    this.poolSize = this.network === "none" ? Math.max(0, o.poolSize ?? 0) : 0;
    this.events = new DockerEventWatcher(this.docker, this.ownerId, this.log);
    this.statsSampler = new DockerStatsSampler(this.docker);
    this.prepared = new PreparedRooms({
      docker: this.docker, ownerId: this.ownerId, secretsRoot: this.secretsRoot, log: this.log, events: this.events,
      takeNamespace: (room) => this.takeNamespace(room), discardNamespace: (ns) => this.discardPooled(ns),
    }, this.network === "none" ? Math.max(0, o.preparedRooms ?? 0) : 0);
  }

  /** See Runtime.prepareRoom (docker/prepared.ts). */
  prepareRoom(room: string, specs: ServiceLaunchSpec[]): void {
    void this.events.start();
    this.prepared.prepare(room, specs);
  }

  /** See Runtime.preparedRoomNames. */
  preparedRoomNames(): string[] {
    return this.prepared.roomNames();
  }

  /** Whether `room`'s next session is prepared and ready (tests, benchmarks). */
  isPrepared(room: string): boolean {
    return this.prepared.isReady(room);
  }

  /** Pool fills and room preparations (or their removals) under way; 0 when idle. */
  get preparing(): number {
    return this.poolFilling + this.prepared.pending;
  }

  /** A ready namespace for a prepared room: a pooled one, else a new pause container. */
  private async takeNamespace(room: string): Promise<RoomNamespace> {
    const pooled = await this.takePooled(room);
    this.fillPool();
    if (pooled !== undefined) return pooled;
    const poolId = `prep-${Math.random().toString(36).slice(2, 10)}`;
    const labels = { [LABEL.owner]: this.ownerId, [LABEL.room]: room, [LABEL.session]: poolId, [LABEL.role]: "pause", [LABEL.pool]: poolId };
    const { pauseId, netnsPath } = await this.startPause(labels, containerName(room, "pause"), null);
    // One helper per namespace: the probe helper also opens the Room API listener.
    const prober = new NetnsProber(netnsPath, this.log, this.helperSpawns);
    const listener = prober.listen("127.0.0.1", ROOM_API_PORT);
    listener.catch(() => undefined);
    return { pauseId, netnsPath, poolId, prober, listener };
  }

  /** CPU and memory of a running container (docker/stats.ts); null once it is gone. */
  stats(containerId: string): Promise<ResourceUsage | null> {
    return this.statsSampler.sample(containerId);
  }

  /** Drops the previous CPU reading kept for `containerId` (the caller stopped sampling it). */
  forgetStats(containerId: string): void {
    this.statsSampler.forget(containerId);
  }

  /** Containers whose previous CPU reading is kept (tests assert it returns to 0 after sessions). */
  get statsTracked(): number {
    return this.statsSampler.tracked;
  }

  private ensurePauseImage(): Promise<string> {
    this.pauseImage ??= ensurePauseImage(this.docker).catch((err) => {
      this.pauseImage = null; // let the next room try again
      throw err;
    });
    return this.pauseImage;
  }

  /** Starts a pause container holding a fresh network namespace; returns its id and netns path. */
  private async startPause(labels: Record<string, string>, name: string, networkId: string | null): Promise<{ pauseId: string; netnsPath: string }> {
    const image = await this.ensurePauseImage();
    const { Id: pauseId } = await this.docker.json<{ Id: string }>({
      method: "POST", path: "/containers/create", query: { name },
      body: {
        Image: image,
        Labels: labels,
        HostConfig: {
          NetworkMode: networkId ?? "none", Init: true, ReadonlyRootfs: true,
          Memory: 32 * 1024 * 1024, MemorySwap: 32 * 1024 * 1024, PidsLimit: 16, SecurityOpt: ["no-new-privileges:true"],
        },
      },
    });
    try {
      await this.docker.json({ method: "POST", path: `/containers/${pauseId}/start` });
      const info = await this.docker.json<{ NetworkSettings: { SandboxKey: string } }>({ method: "GET", path: `/containers/${pauseId}/json` });
      const netnsPath = info.NetworkSettings.SandboxKey;
      if (!netnsPath) throw new Error("Docker reported no SandboxKey (network namespace path) for the pause container");
      return { pauseId, netnsPath };
    } catch (err) {
      await this.docker.json({ method: "DELETE", path: `/containers/${pauseId}`, query: { force: 1 } }).catch(() => {});
      throw err;
    }
  }

  /**
   * Tops the pool of ready namespaces up to poolSize, in the background. Entries carry the
   * owner label (so a crash leaves nothing reapOrphans misses) and role "pool".
   */
  fillPool(): void {
    while (!this.closed && this.pool.length + this.poolFilling < this.poolSize) {
      this.poolFilling++;
      const poolId = `pool-${Math.random().toString(36).slice(2, 10)}`;
      // Labels are fixed at creation; the room is known only at hand-out, when the container
      // is renamed rs-<room>-pause-… (see takePooled) and its services carry its id.
      const labels = { [LABEL.owner]: this.ownerId, [LABEL.room]: "", [LABEL.session]: poolId, [LABEL.role]: "pause", [LABEL.pool]: poolId };
      const fill: Promise<void> = this.startPause(labels, containerName("pool", "pause"), null)
        .then(({ pauseId, netnsPath }) => {
          if (this.closed) return this.docker.json({ method: "DELETE", path: `/containers/${pauseId}`, query: { force: 1 } }).then(() => {}, () => {});
          const prober = new NetnsProber(netnsPath, this.log, this.helperSpawns);
          const entry: PoolEntry = { pauseId, netnsPath, poolId, prober, listener: null };
          entry.listener = prober.listen("127.0.0.1", ROOM_API_PORT);
          entry.listener.catch(() => undefined);
          this.pool.push(entry);
        })
        .catch((err) => this.log.warn({ err }, "could not prepare a pooled room namespace"))
        .finally(() => {
          this.poolFilling--;
          this.fills.delete(fill);
        });
      this.fills.add(fill);
    }
  }

  prewarm(): void {
    this.fillPool();
  }

  /** Pooled namespaces ready right now (for tests and diagnostics). */
  get pooled(): number {
    return this.pool.length;
  }

  /** Frees a pool entry that will not be used. */
  private async discardPooled(p: PoolEntry): Promise<void> {
    p.prober.close();
    (await p.listener?.catch(() => null))?.close();
    await this.docker.json({ method: "DELETE", path: `/containers/${p.pauseId}`, query: { force: 1 } }).catch(() => {});
  }

  /**
   * The first pooled namespace whose pause container is still running (one removed from
   * outside would hand the session a dead namespace), renamed after its room so an operator
   * finds it (`docker ps --filter name=rs-<room>-pause`).
   */
  private async takePooled(room: string): Promise<PoolEntry | undefined> {
    for (let p = this.pool.shift(); p !== undefined; p = this.pool.shift()) {
      try {
        const info = await this.docker.json<{ State: { Running: boolean }; NetworkSettings: { SandboxKey: string } }>({ method: "GET", path: `/containers/${p.pauseId}/json` });
        if (info.State.Running && info.NetworkSettings.SandboxKey === p.netnsPath) {
          await this.docker.json({ method: "POST", path: `/containers/${p.pauseId}/rename`, query: { name: containerName(room, "pause") } })
            .catch((err) => this.log.debug({ err }, "could not rename a pooled pause container"));
          return p;
        }
      } catch (err) {
        if (!(err instanceof DockerError && err.status === 404)) throw err;
      }
      this.log.warn({ pause: p.pauseId.slice(0, 12) }, "a pooled room namespace was removed from outside; discarding it");
      await this.discardPooled(p);
    }
    return undefined;
  }

  async createRoomSandbox(o: { room: string; sessionId: string }): Promise<DockerRoomSandbox> {
    const log = this.log.child({ room: o.room, session: o.sessionId });
    await this.events.start();
    const entry = await this.prepared.take(o.room);
    if (entry !== null && entry.ns !== null) {
      const ns = entry.ns;
      const sandbox = new DockerRoomSandbox({
        runtime: this, room: o.room, sessionId: o.sessionId, pauseId: ns.pauseId, networkId: null, netnsPath: ns.netnsPath,
        log, clock: this.clock, secrets: new SessionSecrets(this.secretsRoot, this.ownerId, ns.poolId),
        onStopped: () => this.live.delete(o.sessionId), prober: ns.prober, listener: ns.listener,
        held: entry.held, preparedId: ns.poolId,
      });
      this.live.set(o.sessionId, sandbox);
      log.debug({ pause: ns.pauseId.slice(0, 12), held: entry.held.size }, "room sandbox taken from the prepared rooms");
      return sandbox;
    }
    const pooled = await this.takePooled(o.room);
    if (pooled !== undefined) {
      this.fillPool();
      const sandbox = new DockerRoomSandbox({
        runtime: this, room: o.room, sessionId: o.sessionId, pauseId: pooled.pauseId, networkId: null, netnsPath: pooled.netnsPath,
        log, clock: this.clock, secrets: new SessionSecrets(this.secretsRoot, this.ownerId, o.sessionId),
        onStopped: () => this.live.delete(o.sessionId), prober: pooled.prober, listener: pooled.listener,
      });
      this.live.set(o.sessionId, sandbox);
      log.debug({ pause: pooled.pauseId.slice(0, 12) }, "room sandbox taken from the pool");
      return sandbox;
    }
    const labels = { [LABEL.owner]: this.ownerId, [LABEL.room]: o.room, [LABEL.session]: o.sessionId, [LABEL.role]: "pause" };
    let networkId: string | null = null;
    try {
      if (this.network === "bridge") {
        ({ Id: networkId } = await this.docker.json<{ Id: string }>({
          method: "POST", path: "/networks/create",
          body: { Name: containerName(o.room, "net"), Driver: "bridge", CheckDuplicate: true, Labels: { ...labels, [LABEL.role]: "network" } },
        }));
      }
      const { pauseId, netnsPath } = await this.startPause(labels, containerName(o.room, "pause"), networkId);
      const sandbox = new DockerRoomSandbox({
        runtime: this, room: o.room, sessionId: o.sessionId, pauseId, networkId, netnsPath, log, clock: this.clock,
        secrets: new SessionSecrets(this.secretsRoot, this.ownerId, o.sessionId),
        onStopped: () => this.live.delete(o.sessionId), prober: null, listener: null,
      });
      this.live.set(o.sessionId, sandbox);
      log.debug({ pause: pauseId.slice(0, 12), netnsPath }, "room sandbox created");
      this.fillPool();
      return sandbox;
    } catch (err) {
      if (networkId !== null) await this.docker.json({ method: "DELETE", path: `/networks/${networkId}` }).catch(() => {});
      throw err;
    }
  }

  /** A listening server on host:port inside the room's namespace (docker detail; the Room API uses 8078). */
  openRoomApiListener(sandbox: DockerRoomSandbox, port: number, host = "127.0.0.1"): Promise<Server> {
    // A pooled namespace already has its 8078 listener open.
    const pre = sandbox.takePreopenedListener(port, host);
    return pre ?? sandbox.listen(host, port);
  }

  openRoomApi(sandbox: RoomSandbox, onSocket: (s: Socket) => void): Promise<RoomApiEndpoint> {
    if (!(sandbox instanceof DockerRoomSandbox)) return Promise.reject(new Error("openRoomApi: not a sandbox of the docker runtime"));
    // A connection from the room is a sign a service is up: its probes look now (ProbeSet.nudge).
    return roomApiFromListener(this.openRoomApiListener(sandbox, ROOM_API_PORT), (s) => {
      sandbox.nudgeProbes();
      onSocket(s);
    });
  }

  /**
   * Removes containers, networks and secret files labelled with `ownerId` (default: ours;
   * "*" for every owner) except this runtime's live sandboxes. Call it at startup, before the
   * first room: a killed server leaves containers running under containerd.
   */
  async reapOrphans(ownerId: string = this.ownerId): Promise<ReapResult> {
    const label = ownerId === "*" ? LABEL.owner : `${LABEL.owner}=${ownerId}`;
    const filters = JSON.stringify({ label: [label] });
    const liveSessions = new Set([
      ...this.live.keys(), ...[...this.live.values()].flatMap((s) => s.preparedId ?? []), ...this.pool.map((p) => p.poolId), ...this.prepared.liveIds(),
    ]);
    const containers = await this.docker.json<{ Id: string; Labels: Record<string, string> }[]>({
      method: "GET", path: "/containers/json", query: { all: 1, filters },
    });
    let removedContainers = 0;
    // Services before pause containers: a service's namespace is its pause container's.
    const ordered = [...containers].sort((a, b) => Number(a.Labels[LABEL.role] === "pause") - Number(b.Labels[LABEL.role] === "pause"));
    for (const c of ordered) {
      if (liveSessions.has(c.Labels[LABEL.session] ?? "")) continue;
      try {
        await this.docker.json({ method: "DELETE", path: `/containers/${c.Id}`, query: { force: 1, v: 1 } });
        removedContainers++;
      } catch (err) {
        // 404: gone meanwhile; 409: its removal is already under way (a pool entry discarded at close).
        if (!(err instanceof DockerError && (err.status === 404 || err.status === 409))) throw err;
      }
    }
    const networks = await this.docker.json<{ Id: string; Labels: Record<string, string> }[]>({ method: "GET", path: "/networks", query: { filters } });
    let removedNetworks = 0;
    for (const n of networks) {
      if (liveSessions.has(n.Labels[LABEL.session] ?? "")) continue;
      await this.docker.json({ method: "DELETE", path: `/networks/${n.Id}` }).then(() => removedNetworks++, (err) => this.log.warn({ err, network: n.Id }, "could not remove network"));
    }
    const liveDirs = new Set([
      ...[...this.live.values()].map((s) => s.secretsDir), ...this.prepared.liveIds().map((id) => new SessionSecrets(this.secretsRoot, this.ownerId, id).dir),
    ]);
    const files = await reapSecretDirs(this.secretsRoot, ownerId === "*" ? undefined : ownerId, liveDirs);
    const result = { containers: removedContainers, networks: removedNetworks, files };
    if (removedContainers + removedNetworks + files > 0) this.log.info(result, "removed leftovers of an earlier run");
    return result;
  }

  /**
   * Removes `room`'s service and pause containers labelled with another owner (a cluster node
   * that lost the room's lease; docs/scaling.md) from this engine, services first, at once
   * (no grace: the room runs here now): every container labelled with that owner and room
   * (its prepared ones for the room too: it no longer holds the room), and the pause
   * containers they name (a pooled one carries no room label). Nothing is found when that
   * owner uses another engine.
   */
  async reapRoom(ownerId: string, room: string): Promise<ReapResult> {
    if (ownerId === this.ownerId) throw new Error("reapRoom is for another owner's containers");
    const filters = JSON.stringify({ label: [`${LABEL.owner}=${ownerId}`, `${LABEL.room}=${room}`] });
    const containers = await this.docker.json<{ Id: string; Labels: Record<string, string> }[]>({ method: "GET", path: "/containers/json", query: { all: 1, filters } });
    const services = containers.filter((c) => c.Labels[LABEL.role] !== "pause").map((c) => c.Id);
    const pauses = new Set([
      ...containers.filter((c) => c.Labels[LABEL.role] === "pause").map((c) => c.Id),
      ...containers.flatMap((c) => (c.Labels[LABEL.pause] ? [c.Labels[LABEL.pause]!] : [])),
    ]);
    let removed = 0;
    // Services before pause containers: a service's namespace is its pause container's.
    for (const id of [...services, ...pauses]) {
      try {
        await this.docker.json({ method: "DELETE", path: `/containers/${id}`, query: { force: 1, v: 1 } });
        removed++;
      } catch (err) {
        if (!(err instanceof DockerError && (err.status === 404 || err.status === 409))) throw err;
      }
    }
    if (removed > 0) this.log.info({ owner: ownerId, room, containers: removed }, "removed another node's containers of a room now served here");
    return { containers: removed, networks: 0, files: 0 };
  }

  /** Removes pooled namespaces and releases the HTTP agent; live sandboxes are not stopped. */
  async close(): Promise<void> {
    this.closed = true;
    await this.prepared.close();
    await Promise.allSettled([...this.fills]);
    const pool = this.pool.splice(0);
    await Promise.allSettled(pool.map((p) => this.discardPooled(p)));
    // Sessions stopped before close() removed their own secret dirs; empty parents go too.
    if (this.live.size === 0) await removeEmptySecretDirs(this.secretsRoot, this.ownerId);
    this.events.close();
    this.docker.close();
  }
}

interface SandboxInit {
  runtime: DockerRuntime;
  room: string;
  sessionId: string;
  pauseId: string;
  networkId: string | null;
  netnsPath: string;
  secrets: SessionSecrets;
  log: Logger;
  clock: Clock;
  onStopped: () => void;
  /** From the pool: already warm. */
  prober: NetnsProber | null;
  listener: Promise<Server> | null;
  /** From a prepared room: held containers by service id, and the entry's id (their session label). */
  held?: Map<string, HeldContainer>;
  preparedId?: string;
}

export class DockerRoomSandbox implements RoomSandbox {
  readonly room: string;
  readonly sessionId: string;
  readonly netnsPath: string;
  readonly pauseId: string;
  private readonly i: SandboxInit;
  private readonly prober: NetnsProber;
  private readonly driver: ServiceDriver;
  private readonly handles = new Map<string, ServiceSupervisor>();
  private stopping: Promise<void> | null = null;
  private preopened: Promise<Server> | null;
  private lostReason: string | null = null;
  private readonly lostListeners: ((reason: string) => void)[] = [];
  private readonly unwatchPause: () => void;
  /** Held containers not yet claimed by a service launch (removed at stop). */
  private readonly held: Map<string, HeldContainer>;
  /** Image ids looked up while taking held containers (by tag). */
  private readonly imageIds = new Map<string, Promise<string | null>>();
  readonly preparedId: string | undefined;

  constructor(i: SandboxInit) {
    this.i = i;
    this.room = i.room;
    this.sessionId = i.sessionId;
    this.netnsPath = i.netnsPath;
    this.pauseId = i.pauseId;
    this.prober = i.prober ?? new NetnsProber(i.netnsPath, i.log, i.runtime.helperSpawns);
    // Overlaps the helper's start-up with the services' container creation.
    if (i.prober === null) this.prober.warm();
    this.preopened = i.listener;
    this.held = i.held ?? new Map();
    this.preparedId = i.preparedId;
    const real = new DockerServiceDriver({
      docker: i.runtime.docker, ownerId: i.runtime.ownerId, room: i.room, sessionId: i.sessionId, pauseId: i.pauseId,
      secrets: i.secrets, prober: this.prober, log: i.log, events: i.runtime.events,
    });
    // A service (re)started after stop() began must not create containers nobody will remove;
    // one started after the namespace holder vanished would only fail with "No such container".
    this.driver = {
      launch: (spec, hooks) => {
        if (this.stopping !== null) return Promise.reject(new LaunchFailure("the room's session has ended", { retry: false }));
        if (this.lostReason !== null) return Promise.reject(new LaunchFailure(this.lostReason));
        const held = this.held.get(spec.serviceId);
        if (held === undefined) return real.launch(spec, hooks);
        this.held.delete(spec.serviceId); // single use: a later run of the service is an ordinary launch
        return this.launchHeld(real, held, spec, hooks);
      },
      netCheck: (a, t) => real.netCheck(a, t),
      release: (id) => real.release(id),
    };
    this.unwatchPause = i.runtime.events.onGone(i.pauseId, (action) => {
      if (this.stopping !== null || this.lostReason !== null) return;
      this.lostReason = `the room's pause container ${i.pauseId.slice(0, 12)} (its network namespace) was ${action === "destroy" ? "removed" : "stopped"} from outside Roomservice`;
      i.log.warn({ pause: i.pauseId.slice(0, 12), action }, "room namespace lost");
      for (const fn of this.lostListeners.splice(0)) {
        try {
          fn(this.lostReason);
        } catch (err) {
          i.log.error({ err }, "a sandbox lost listener threw");
        }
      }
    });
  }

  /**
   * Uses the held container when it was made from this very configuration and image (the
   * tag may have been rebuilt since) and is still waiting; otherwise removes it and launches
   * the ordinary way.
   */
  private async launchHeld(real: DockerServiceDriver, held: HeldContainer, spec: ServiceLaunchSpec, hooks: LaunchHooks): Promise<RunningInstance> {
    const docker = this.i.runtime.docker;
    let usable = !held.gone && held.key === specKey(spec);
    if (usable) {
      // One lookup per image for the session's whole start (services often share an image).
      let image = this.imageIds.get(spec.image);
      if (image === undefined) this.imageIds.set(spec.image, (image = inspectImage(docker, spec.image).then((i) => i.id, () => null)));
      usable = (await image) === held.imageId;
    }
    if (usable && !held.gone) {
      held.unwatch();
      return real.launchHeld(held, spec, hooks);
    }
    this.i.log.debug({ service: spec.serviceId, gone: held.gone }, "held container does not match the session's service; launching anew");
    await removeHeld(docker, held).catch((err) => this.i.log.warn({ err }, "could not remove a held container"));
    return real.launch(spec, hooks);
  }

  openConnector(log: Logger): ServiceConnector {
    return new NetnsConnector(this.netnsPath, log, this.i.runtime.helperSpawns);
  }

  onLost(fn: (reason: string) => void): void {
    if (this.lostReason !== null) fn(this.lostReason);
    else this.lostListeners.push(fn);
  }

  /** The Room API listener opened while the namespace waited in the pool (once). */
  takePreopenedListener(port: number, host: string): Promise<Server> | null {
    if (port !== 8078 || host !== "127.0.0.1") return null;
    const l = this.preopened;
    this.preopened = null;
    return l;
  }

  get secretsDir(): string {
    return this.i.secrets.dir;
  }

  startService(spec: ServiceLaunchSpec): ServiceHandle {
    return startOrRestart(this.handles, spec, this.driver, this.i.log, this.i.clock);
  }

  services(): ServiceHandle[] {
    return [...this.handles.values()];
  }

  /** A listening server on host:port in the room's namespace, opened by its probe helper. */
  listen(host: string, port: number): Promise<Server> {
    return this.prober.listen(host, port);
  }

  /** Every service's probes that have not yet succeeded check now (see ServiceSupervisor.nudgeProbes). */
  nudgeProbes(): void {
    for (const h of this.handles.values()) h.nudgeProbes();
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const docker = this.i.runtime.docker;
    this.unwatchPause();
    // Services in parallel, each with its own grace period; the pause container goes last,
    // since it holds the namespace they live in.
    const unclaimed = [...this.held.values()];
    this.held.clear();
    await Promise.allSettled([...this.handles.values()].map((h) => h.stop()).concat(unclaimed.map((h) => removeHeld(docker, h))));
    this.prober.close();
    // A pre-opened listener nobody took must not outlive the namespace.
    (await this.preopened?.catch(() => null))?.close();
    try {
      await docker.json({ method: "DELETE", path: `/containers/${this.pauseId}`, query: { force: 1, v: 1 } });
    } catch (err) {
      if (!(err instanceof DockerError && err.status === 404)) this.i.log.warn({ err }, "could not remove the pause container; reapOrphans will");
    }
    if (this.i.networkId !== null) {
      await docker.json({ method: "DELETE", path: `/networks/${this.i.networkId}` }).catch((err) => this.i.log.warn({ err }, "could not remove the room network"));
    }
    await this.i.secrets.removeAll().catch((err) => this.i.log.warn({ err }, "could not remove the room's secret files"));
    this.i.onStopped();
    this.i.log.debug("room sandbox stopped");
  }
}
