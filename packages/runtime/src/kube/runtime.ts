/**
 * The Pod runtime: one Kubernetes Pod per room session, every service a container of it (a
 * Pod's containers share localhost, as a room's services do under docker and sandbox), plus a
 * gateway sidecar that serves the Room API at the Pod's 127.0.0.1:8078 by dialling back to
 * this node (gateway.ts). Secrets are Kubernetes Secrets mounted as files; probes are
 * Kubernetes probes; state comes from the Pod's container statuses and Events; Pods and
 * Secrets carry owner/room/session labels for reaping. The engine is a PodApi: the Kubernetes
 * API (kind "kubernetes") or `podman kube play` (kind "podman", one machine, no cluster).
 *
 * A Pod's container list is fixed once created. The launcher hands a session's services over
 * in one synchronous run, so the first Pod has them all. A restart whose spec differs from the
 * running one only in values (session tokens, secret values: the same `specKey`) restarts that
 * one container in place where the engine can (podman: its Secret files rewritten, then
 * `podman container restart`), and a service stopped alone is stopped in place (its container
 * stays in the Pod, stopped, until it is started again). Any other change (a new
 * configuration, a service started late; on a cluster also a plain restart or a stop of one
 * service) replaces the Pod with a new generation, which restarts the room's other services too — the cost of "one Pod per room"; each of them
 * gets a `Killing` event saying which change replaced the Pod (docs/decisions.md).
 */
import type { Socket } from "node:net";
import type { Clock, Logger, ReapResult, RoomApiEndpoint, RoomSandbox, Runtime, ServiceConnector, ServiceHandle, ServiceLaunchSpec } from "../types.ts";
import type { PodApi, PodObservation } from "./api.ts";
import { PodGateway, type GatewayListen } from "./gateway.ts";
import { specKey } from "../docker/plan.ts";
import { buildPodManifests, labelValue, ownerPrefix, sessionPrefix, type ImageConfig, type PodManifests } from "./manifest.ts";
import { PodServiceHandle, type PodServiceOwner } from "./service.ts";

export interface PodRuntimeOptions {
  ownerId: string;
  logger: Logger;
  clock?: Clock;
  api: PodApi;
  /** Kubernetes namespace of the Pods and Secrets (podman ignores it). */
  namespace?: string;
  /** The gateway sidecar's image (gateway-image/; build it with `buildGatewayImage`). */
  gatewayImage: string;
  /** Where this node listens for the sidecars. */
  gateway: GatewayListen;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** How often a live Pod's status is read, ms (default 500). */
  pollMs?: number;
  /**
   * An image's ENTRYPOINT and CMD, so its services run under the envexec launcher (see
   * manifest.ts); null (or no resolver) runs them directly. A rejection fails the Pod's start
   * with its message (podman: the image is not in its store).
   */
  imageConfig?: (image: string) => Promise<ImageConfig | null>;
  /**
   * What the runtime closes after itself in `close()`: resources made for it alone, such as the
   * DockerEngine behind a `dockerImageConfig` resolver (its keep-alive sockets to dockerd).
   */
  releaseOnClose?: { close(): void }[];
}

const systemClock: Clock = { now: () => Date.now() };

export class PodRuntime implements Runtime {
  readonly kind: "kubernetes" | "podman";
  readonly ownerId: string;
  readonly api: PodApi;
  readonly namespace: string;
  readonly o: PodRuntimeOptions;
  readonly gateway: PodGateway;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly live = new Map<string, PodRoomSandbox>();

  constructor(o: PodRuntimeOptions) {
    this.o = o;
    this.kind = o.api.kind;
    this.api = o.api;
    this.ownerId = o.ownerId;
    this.namespace = o.namespace ?? "default";
    this.log = o.logger.child({ runtime: o.api.kind });
    this.clock = o.clock ?? systemClock;
    this.gateway = new PodGateway(o.gateway, this.log.child({ component: "pod-gateway" }));
  }

  async createRoomSandbox(o: { room: string; sessionId: string }): Promise<PodRoomSandbox> {
    const target = await this.gateway.start();
    const sb = new PodRoomSandbox(this, o.room, o.sessionId, target, this.log.child({ room: o.room, session: o.sessionId }), this.clock, () => this.live.delete(o.sessionId));
    this.live.set(o.sessionId, sb);
    return sb;
  }

  async openRoomApi(sandbox: RoomSandbox, onSocket: (s: Socket) => void): Promise<RoomApiEndpoint> {
    if (!(sandbox instanceof PodRoomSandbox)) throw new Error(`openRoomApi: not a sandbox of the ${this.kind} runtime`);
    sandbox.onRoomApiSocket = onSocket;
    return {
      url: "ws://127.0.0.1:8078",
      close: () => {
        if (sandbox.onRoomApiSocket === onSocket) sandbox.onRoomApiSocket = null;
      },
    };
  }

  /**
   * Deletes Pods and Secrets labelled with `ownerId` whose session is not live here ("*" is
   * not supported: a cluster is shared, and only an owner's own leftovers are ever touched).
   * Counts: Pods as `containers`, Secrets as `files`.
   */
  async reapOrphans(ownerId: string = this.ownerId): Promise<ReapResult> {
    if (ownerId === "*") throw new Error("the pod runtime reaps one owner's leftovers at a time");
    const live = [...this.live.values()].map((sb) => sessionPrefix(this.ownerId, sb.room, sb.sessionId));
    const isLive = (name: string) => ownerId === this.ownerId && live.some((p) => name.startsWith(p));
    const owned = await this.api.listOwned(this.namespace, labelValue(ownerId), ownerPrefix(ownerId));
    let containers = 0;
    for (const name of owned.pods) {
      if (isLive(name)) continue;
      try {
        await this.api.stop(this.namespace, name, 0);
        await this.api.remove(this.namespace, name);
        containers++;
      } catch (err) {
        this.log.warn({ err, pod: name }, "could not remove a leftover Pod; the next reap tries again");
      }
    }
    await this.gateway.reapStaleSockets();
    const secrets = owned.secrets.filter((n) => !isLive(n));
    if (secrets.length > 0) await this.api.deleteSecrets(this.namespace, secrets);
    const result = { containers, networks: 0, files: secrets.length };
    if (containers + secrets.length > 0) this.log.info(result, "removed leftovers of an earlier run");
    return result;
  }

  /**
   * Deletes one room's Pods and Secrets of another owner (a cluster node that lost the room's
   * lease; docs/scaling.md) at once, without a grace period: the room runs here now, and two
   * copies of its services must not overlap on a shared engine. Counts as reapOrphans does.
   * Nothing is found when that owner uses another engine (another namespace or machine).
   */
  async reapRoom(ownerId: string, room: string): Promise<ReapResult> {
    if (ownerId === this.ownerId) throw new Error("reapRoom is for another owner's Pods");
    const owned = await this.api.listOwned(this.namespace, labelValue(ownerId), ownerPrefix(ownerId), labelValue(room));
    let containers = 0;
    for (const name of owned.pods) {
      try {
        await this.api.stop(this.namespace, name, 0);
        await this.api.remove(this.namespace, name);
        containers++;
      } catch (err) {
        this.log.warn({ err, pod: name }, "could not remove another node's Pod of a room now served here");
      }
    }
    if (owned.secrets.length > 0) await this.api.deleteSecrets(this.namespace, owned.secrets);
    if (containers > 0) this.log.info({ owner: ownerId, room, pods: containers }, "removed another node's Pods of a room now served here");
    return { containers, networks: 0, files: owned.secrets.length };
  }

  async close(): Promise<void> {
    await this.gateway.close();
    this.api.close();
    for (const r of this.o.releaseOnClose ?? []) r.close();
  }
}

/** The room's Pod, generation by generation. `stopped` is terminal. */
type PodState =
  | { kind: "none" }
  | { kind: "up"; name: string; manifests: PodManifests; containers: Map<string, PodServiceHandle> }
  | { kind: "stopped" };

export class PodRoomSandbox implements RoomSandbox, PodServiceOwner {
  readonly room: string;
  readonly sessionId: string;
  onRoomApiSocket: ((s: Socket) => void) | null = null;
  private readonly rt: PodRuntime;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly handles = new Map<string, PodServiceHandle>();
  private readonly gatewayKey: { key: string; unregister(): void; connector: ServiceConnector };
  private readonly target: Awaited<ReturnType<PodGateway["start"]>>;
  private readonly onStopped: () => void;
  private pod: PodState = { kind: "none" };
  private generation = 0;
  /** One reconcile at a time; `dirty` asks for one more after the current. */
  private reconciling: Promise<void> | null = null;
  private dirty = false;
  private stopping: Promise<void> | null = null;
  private poller: ReturnType<typeof setInterval> | null = null;
  private polling = false;
  private lastEventsAt = 0;

  constructor(rt: PodRuntime, room: string, sessionId: string, target: PodRoomSandbox["target"], log: Logger, clock: Clock, onStopped: () => void) {
    this.rt = rt;
    this.room = room;
    this.sessionId = sessionId;
    this.target = target;
    this.log = log;
    this.clock = clock;
    this.onStopped = onStopped;
    this.gatewayKey = rt.gateway.register((s) => {
      const fn = this.onRoomApiSocket;
      if (fn === null) s.destroy();
      else fn(s);
    });
  }

  /** Connections into the Pod's localhost, made by the gateway sidecar (see gateway.ts). */
  openConnector(): ServiceConnector {
    return this.gatewayKey.connector;
  }

  /** The current Pod's name (diagnostics and tests), or null. */
  get podName(): string | null {
    return this.pod.kind === "up" ? this.pod.name : null;
  }

  startService(spec: ServiceLaunchSpec): ServiceHandle {
    let h = this.handles.get(spec.serviceId);
    if (h !== undefined) {
      void h.restart(spec).catch((err) => this.log.warn({ err, service: spec.serviceId }, "restart failed"));
      return h;
    }
    h = new PodServiceHandle(spec, this, this.log, this.clock, this.rt.api.evaluatesProbes);
    this.handles.set(spec.serviceId, h);
    if (this.stopping !== null) {
      h.failStart("the room's session has ended");
      return h;
    }
    // Services handed over in the same synchronous run share the first Pod.
    this.schedule();
    return h;
  }

  services(): ServiceHandle[] {
    return [...this.handles.values()];
  }

  stopService(h: PodServiceHandle, kill: boolean): Promise<void> {
    if (kill) {
      this.killAsked.add(h);
      // A stop of this container already in its grace period ends now too.
      const s = this.stoppingNow.get(h);
      if (s !== undefined) void this.killNow(s.pod, [s.container]);
    }
    if (this.stopping !== null) return this.stopping;
    return this.schedule();
  }

  /**
   * Services asked to stop with `kill` (the room moved to another node): their containers get
   * no grace period, and a stop of them already in flight is overtaken (PodApi.kill). A
   * restart takes a service out again.
   */
  private readonly killAsked = new Set<PodServiceHandle>();
  /** Services whose containers are being stopped right now (stopInPlace, removePod), and where. */
  private readonly stoppingNow = new Map<PodServiceHandle, { pod: string; container: string }>();

  private async killNow(pod: string, containers: string[]): Promise<void> {
    if (containers.length === 0) return;
    try {
      await this.rt.api.kill(this.rt.namespace, pod, containers);
    } catch (err) {
      this.log.warn({ err, pod, containers }, "could not kill containers of the room's Pod; they get their grace period");
    }
  }

  /** The grace period for stopping `hs` of a Pod: none when every one of them was asked to be killed. */
  private graceFor(p: Extract<PodState, { kind: "up" }>, hs: Iterable<PodServiceHandle>): number {
    const all = [...hs];
    if (all.length > 0 && all.every((h) => this.killAsked.has(h))) return 0;
    return p.manifests.pod.spec?.terminationGracePeriodSeconds ?? 10;
  }

  restartService(h: PodServiceHandle, spec: ServiceLaunchSpec | undefined): Promise<void> {
    this.killAsked.delete(h);
    if (this.stopping !== null) return Promise.resolve();
    if (spec !== undefined) h.spec = spec;
    // Same spec: the container must still restart (in place where the engine can, else a new Pod).
    this.restartAsked.add(h);
    return this.schedule();
  }

  /** Services asked to restart since the last reconcile (a restart with the same spec must still happen). */
  private readonly restartAsked = new Set<PodServiceHandle>();

  followLogs(h: PodServiceHandle, containerId: string, sinceMs: number | null, onEnd: () => void = () => {}): () => void {
    if (this.pod.kind !== "up") return () => {};
    const cname = [...this.pod.containers].find(([, x]) => x === h)?.[0];
    if (cname === undefined) return () => {};
    return this.rt.api.followLogs(this.rt.namespace, this.pod.name, cname, containerId, sinceMs,
      (stream, chunk) => h.output(stream, chunk), onEnd);
  }

  /** Runs reconcile after the current synchronous run (and after any reconcile in flight). */
  private schedule(): Promise<void> {
    this.dirty = true;
    this.reconciling ??= (async () => {
      await new Promise<void>((r) => setImmediate(r));
      try {
        while (this.dirty && this.stopping === null) {
          this.dirty = false;
          await this.reconcile();
        }
      } finally {
        this.reconciling = null;
      }
    })();
    return this.reconciling;
  }

  /** Makes the Pod hold exactly the services whose intent is "run", with their current specs. */
  private async reconcile(): Promise<void> {
    const want = [...this.handles.values()].filter((h) => h.intent === "run");
    const cur = this.pod;
    const asked = new Set(this.restartAsked);
    this.restartAsked.clear();
    let why = "";
    if (cur.kind === "up") {
      const inPod = new Set(cur.containers.values());
      const added = want.filter((h) => !inPod.has(h));
      const removed = [...inPod].filter((h) => !want.includes(h) && !this.stoppedInPod.has(h));
      // A service stopped in place and wanted again is a restart of its (stopped) container.
      const changed = want.filter((h) => inPod.has(h) && (this.specInPod.get(h) !== h.spec || asked.has(h) || this.stoppedInPod.has(h)));
      if (added.length + removed.length + changed.length === 0) return;
      const api = this.rt.api;
      // (Once no service is left to run, the Pod goes: no room keeps an idle Pod.)
      const inPlace = !this.replaceNext && added.length === 0 && want.length > 0 && api.restartContainer !== undefined
        && api.stopContainer !== undefined && api.updateSecret !== undefined && changed.every((h) => specKey(this.specInPod.get(h)!) === specKey(h.spec));
      this.replaceNext = false;
      if (inPlace) {
        await this.stopInPlace(cur, removed);
        if (changed.length > 0) await this.restartInPlace(cur, [...inPod], changed);
        return;
      }
      const ids = (hs: PodServiceHandle[]) => hs.map((h) => JSON.stringify(h.serviceId)).join(", ");
      why = [
        added.length > 0 ? `${ids(added)} started` : "",
        removed.length > 0 ? `${ids(removed)} stopped` : "",
        changed.length > 0 ? `${ids(changed)} restarted` : "",
      ].filter(Boolean).join(", ");
      // The siblings restart only because a Pod's containers cannot change: say so on each.
      for (const h of want) {
        if (inPod.has(h) && !changed.includes(h)) h.notice("Killing", `Stopping container: the room's Pod is replaced because ${why} (a Pod's containers cannot be changed one at a time)`);
      }
      await this.removePod(cur, [...cur.containers.values()]);
      this.stoppedInPod.clear();
    }
    if (want.length === 0) return;
    this.generation++;
    let manifests: PodManifests;
    try {
      const imageConfigs: Record<string, ImageConfig> = {};
      const resolve = this.rt.o.imageConfig;
      if (resolve !== undefined) {
        for (const image of new Set(want.map((h) => h.spec.image))) {
          const c = await resolve(image);
          if (c !== null) imageConfigs[image] = c;
        }
      }
      manifests = buildPodManifests({
        imageConfigs,
        namespace: this.rt.namespace, ownerId: this.rt.ownerId, room: this.room, sessionId: this.sessionId, generation: this.generation,
        specs: want.map((h) => h.spec), gateway: { image: this.rt.o.gatewayImage, target: this.target, key: this.gatewayKey.key },
        ...(this.rt.o.imagePullPolicy ? { imagePullPolicy: this.rt.o.imagePullPolicy } : {}),
      });
    } catch (err) {
      for (const h of want) h.failStart(`the room's Pod cannot be built: ${(err as Error).message}`);
      return;
    }
    const containers = new Map<string, PodServiceHandle>();
    for (const [cname, sid] of Object.entries(manifests.containers)) containers.set(cname, this.handles.get(sid)!);
    for (const h of want) {
      h.enterPod(h.spec);
      this.specInPod.set(h, h.spec);
    }
    const name = manifests.pod.metadata!.name!;
    try {
      await this.rt.api.create(manifests);
    } catch (err) {
      this.log.warn({ err, pod: name }, "could not create the room's Pod");
      for (const h of want) h.failStart(`could not create the room's Pod: ${(err as Error).message}`);
      await this.rt.api.deleteSecrets(this.rt.namespace, manifests.secrets.map((s) => s.metadata!.name!)).catch(() => {});
      await this.rt.api.remove(this.rt.namespace, name).catch(() => {});
      return;
    }
    this.pod = { kind: "up", name, manifests, containers };
    this.log.debug({ pod: name, services: want.length, ...(why ? { replacedBecause: why } : {}) }, "room Pod created");
    this.startPolling();
  }

  private readonly specInPod = new WeakMap<PodServiceHandle, ServiceLaunchSpec>();
  /** An in-place restart failed: the next reconcile replaces the Pod instead. */
  private replaceNext = false;
  /** Services of the current Pod whose containers were stopped alone (still in the Pod, not running). */
  private readonly stoppedInPod = new Set<PodServiceHandle>();

  /**
   * Stops services alone inside the running Pod (their containers stay in it, stopped), where
   * the engine can; a later start of one restarts that container (restartInPlace).
   */
  private async stopInPlace(cur: Extract<PodState, { kind: "up" }>, hs: PodServiceHandle[]): Promise<void> {
    if (hs.length === 0) return;
    await Promise.all(hs.map(async (h) => {
      const cname = [...cur.containers].find(([, x]) => x === h)![0];
      h.stopping();
      this.stoppedInPod.add(h);
      this.stoppingNow.set(h, { pod: cur.name, container: cname });
      try {
        await this.rt.api.stopContainer!(this.rt.namespace, cur.name, cname, this.graceFor(cur, [h]));
      } catch (err) {
        this.log.warn({ err, service: h.serviceId }, "stopping a container in place failed");
      } finally {
        this.stoppingNow.delete(h);
      }
    }));
    await this.pollOnce(cur); // the exits, as the engine reports them
    for (const h of hs) h.stopped();
  }

  /**
   * Restarts `changed` (whose new specs differ from the running ones only in values) inside
   * the running Pod: their Secrets rewritten with the new values, then each container
   * restarted (stop signal, grace period, SIGKILL); the Pod and its other containers stay.
   */
  private async restartInPlace(cur: Extract<PodState, { kind: "up" }>, inPod: PodServiceHandle[], changed: PodServiceHandle[]): Promise<void> {
    const api = this.rt.api;
    let manifests: PodManifests;
    try {
      // Same generation: the same Pod and Secret names, the new values.
      manifests = buildPodManifests({
        namespace: this.rt.namespace, ownerId: this.rt.ownerId, room: this.room, sessionId: this.sessionId, generation: this.generation,
        specs: inPod.map((h) => h.spec), gateway: { image: this.rt.o.gatewayImage, target: this.target, key: this.gatewayKey.key },
        imageConfigs: {}, ...(this.rt.o.imagePullPolicy ? { imagePullPolicy: this.rt.o.imagePullPolicy } : {}),
      });
    } catch (err) {
      for (const h of changed) h.failStart(`the service's new values cannot be written: ${(err as Error).message}`);
      return;
    }
    const grace = cur.manifests.pod.spec?.terminationGracePeriodSeconds ?? 10;
    await Promise.all(changed.map(async (h) => {
      const cname = [...cur.containers].find(([, x]) => x === h)![0];
      const c = manifests.pod.spec!.containers.find((x) => x.name === cname);
      const volumes = new Set(c?.volumeMounts?.map((m) => m.name));
      const secretName = manifests.pod.spec!.volumes?.find((v) => volumes.has(v.name) && v.secret !== undefined)?.secret?.secretName;
      const secret = manifests.secrets.find((x) => x.metadata?.name === secretName);
      this.specInPod.set(h, h.spec);
      this.stoppedInPod.delete(h);
      h.restartingInPlace(h.spec, cname);
      try {
        if (secret !== undefined) await api.updateSecret!(secret);
        await api.restartContainer!(this.rt.namespace, cur.name, cname, grace);
      } catch (err) {
        // Fall back to what always works: a new Pod (the next reconcile, scheduled here).
        this.log.warn({ err, service: h.serviceId }, "restarting a container in place failed; replacing the room's Pod");
        this.replaceNext = true;
        this.restartAsked.add(h);
        void this.schedule();
      }
    }));
  }

  /** Deletes a Pod generation (grace period: the longest of its services') and its Secrets. */
  private async removePod(p: Extract<PodState, { kind: "up" }>, hs: PodServiceHandle[]): Promise<void> {
    for (const h of hs) h.stopping();
    // No grace when every service of the Pod is to be killed; otherwise the killed ones first.
    const grace = this.graceFor(p, p.containers.values());
    for (const [container, h] of p.containers) this.stoppingNow.set(h, { pod: p.name, container });
    if (grace > 0) await this.killNow(p.name, [...p.containers].filter(([, h]) => this.killAsked.has(h)).map(([c]) => c));
    const stopping = this.rt.api.stop(this.rt.namespace, p.name, grace);
    // Watch the containers end (their exit codes) while the engine stops them.
    let done = false;
    void stopping.then(() => (done = true), () => (done = true));
    while (!done) {
      await this.pollOnce(p);
      await Promise.race([stopping.catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
    }
    await this.pollOnce(p);
    for (const h of p.containers.values()) if (this.stoppingNow.get(h)?.pod === p.name) this.stoppingNow.delete(h);
    await stopping.catch((err) => this.log.warn({ err, pod: p.name }, "could not stop the room's Pod; reapOrphans will"));
    await this.rt.api.remove(this.rt.namespace, p.name).catch((err) => this.log.warn({ err, pod: p.name }, "could not remove the room's Pod; reapOrphans will"));
    await this.rt.api.deleteSecrets(this.rt.namespace, p.manifests.secrets.map((s) => s.metadata!.name!))
      .catch((err) => this.log.warn({ err }, "could not delete the room's Secrets; reapOrphans will"));
    if (this.pod === p) this.pod = { kind: "none" };
    for (const h of hs) h.stopped();
  }

  private startPolling(): void {
    if (this.poller !== null) return;
    this.poller = setInterval(() => {
      if (this.polling || this.pod.kind !== "up") return;
      this.polling = true;
      void this.pollOnce(this.pod).finally(() => (this.polling = false));
    }, this.rt.o.pollMs ?? 500);
    this.poller.unref();
  }

  private async pollOnce(p: Extract<PodState, { kind: "up" }>): Promise<void> {
    let obs: PodObservation | null;
    try {
      obs = await this.rt.api.read(this.rt.namespace, p.name);
    } catch (err) {
      this.log.debug({ err }, "reading the room's Pod failed");
      return;
    }
    if (obs === null) return;
    for (const c of obs.containers) p.containers.get(c.name)?.observe(c);
    const now = Date.now();
    if (now - this.lastEventsAt >= 2000) {
      this.lastEventsAt = now;
      const events = await this.rt.api.events(this.rt.namespace, p.name).catch(() => []);
      for (const [cname, h] of p.containers) h.observeEvents(events.filter((e) => e.container === cname));
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.reconciling?.catch(() => {});
      if (this.poller !== null) clearInterval(this.poller);
      this.poller = null;
      const cur = this.pod;
      if (cur.kind === "up") await this.removePod(cur, [...this.handles.values()]);
      for (const h of this.handles.values()) h.stopped();
      this.pod = { kind: "stopped" };
      this.gatewayKey.unregister();
      this.onRoomApiSocket = null;
      this.onStopped();
    })();
    return this.stopping;
  }
}
