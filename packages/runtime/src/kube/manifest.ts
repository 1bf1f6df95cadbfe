/**
 * Launch specs → Kubernetes manifests, as a pure function (no I/O, no clock): one Pod per room
 * session, every service a container of it (containers of a Pod share one network namespace,
 * so services reach each other on 127.0.0.1 — the shape the docker and sandbox runtimes give a
 * room), plus the gateway sidecar that serves the Room API at 127.0.0.1:8078 by dialling back
 * to the owning node, and one Secret per service that has secret files or session values
 * (mounted read-only at /run/secrets, so a service sees only its own). File mounts come from
 * one more Secret per service (fileVolumes), empty dirs are emptyDir volumes.
 *
 * Session values (spec.sessionEnv: its tokens, its session id) and secret env never appear in
 * the Pod spec: they are keys of the service's Secret, and the service's command runs under
 * the envexec launcher (docker/envexec.ts), which an init container copies from the gateway
 * image into a shared in-memory volume; the launcher exports the named files as environment
 * variables and stays PID 1, forwarding the stop signal to the command's process group. The
 * launcher needs the image's ENTRYPOINT and CMD (`imageConfigs`); for an image whose config is
 * not known the command runs directly and those values are secretKeyRef env — a reference in
 * the Pod spec, the value still only in the Secret.
 *
 * Field names and rules follow the Kubernetes core/v1 API (Pod, Container, Probe, Secret,
 * Volume) and its name rules (RFC 1123 labels for container names, 63-character label values).
 */
import { createHash } from "node:crypto";
import type { V1Container, V1EnvVar, V1Pod, V1Probe, V1Secret, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { ENVEXEC_MOUNT, INIT_ENV_VAR, SECRET_ENV_VAR } from "../docker/envexec.ts";
import { EMPTY_DIR_SIZE_BYTES } from "../file-mounts.ts";
import { SECRETS_MOUNT } from "../secrets.ts";
import type { Probe, ServiceLaunchSpec } from "../types.ts";

/** Label keys on every Pod and Secret the runtime creates; reaping selects on `owner`. */
export const KUBE_LABEL = {
  owner: "roomservice.dev/owner",
  room: "roomservice.dev/room",
  session: "roomservice.dev/session",
  role: "roomservice.dev/role",
  generation: "roomservice.dev/generation",
} as const;

/** Pod annotation: JSON {container name: service id} (ids need not be valid container names). */
export const SERVICES_ANNOTATION = "roomservice.dev/services";
/** Pod annotation: the room name as given (the label holds a label-safe form). */
export const ROOM_ANNOTATION = "roomservice.dev/room";

export const GATEWAY_CONTAINER = "roomservice-gateway";
/** Where the gateway finds its session key (a file of its own Secret). */
export const GATEWAY_KEY_FILE = "/run/roomservice-gateway/key";

/** The init container that installs the envexec launcher, and the volume it installs it into. */
export const LAUNCHER_CONTAINER = "roomservice-launcher";
export const LAUNCHER_VOLUME = "roomservice-launcher";
/** The launcher's directory in every service container (ENVEXEC_MOUNT is the binary in it). */
export const LAUNCHER_DIR = ENVEXEC_MOUNT.slice(0, ENVEXEC_MOUNT.lastIndexOf("/"));

/**
 * The init container that copies the writable file mounts out of their Secret into each
 * service's own emptyDir (a Secret volume is read-only whatever the mount says), and the
 * folders it sees them in: /rs-files/<container> (the Secret) and /rs-rw/<container>.
 */
export const FILES_CONTAINER = "roomservice-files";
export const FILES_SRC_DIR = "/rs-files";
export const FILES_DST_DIR = "/rs-rw";
/** Its program, run by the gateway image's node: argv is "<src>=<dst>" pairs; copies are 0666 (any user may write). */
export const COPY_FILES_JS = 'const fs=require("fs");for(const a of process.argv.slice(1)){const i=a.indexOf("=");const d=a.slice(i+1);fs.copyFileSync(a.slice(0,i),d);fs.chmodSync(d,0o666)}';

/** A service's writable files: copied by FILES_CONTAINER from the `from` volume (its Secret) into `to` (its emptyDir). */
interface FileCopy {
  cname: string;
  from: string;
  to: string;
  keys: string[];
}

/**
 * A service's file mounts as a Pod sees them: one Secret `<pod>-<container>.files` (a dot:
 * no container name has one, so it never meets a service's own Secret's name) with key f<i>
 * per file, mounted file by file with subPath — read-only ones straight from the Secret
 * volume (0444), writable ones from the service's emptyDir after FILES_CONTAINER copied them
 * there. Like any emptyDir, a writable file keeps its changes over a restart of its
 * container and starts again from the text when the Pod is made. Null without file mounts.
 */
function fileVolumes(spec: ServiceLaunchSpec, cname: string, podName: string): { secretName: string; data: Record<string, string>; volumes: V1Volume[]; mounts: V1VolumeMount[]; copy: FileCopy | null } | null {
  const files = spec.fileMounts ?? [];
  if (files.length === 0) return null;
  const secretName = `${podName}-${cname}.files`.slice(0, 253);
  const from = dnsLabel(`files-${cname}`);
  const to = dnsLabel(`rwfiles-${cname}`);
  // optional: false spelled out — podman 4.3's kube play dereferences it unchecked.
  const volumes: V1Volume[] = [{ name: from, secret: { secretName, defaultMode: 0o444, optional: false } }];
  const writable = files.flatMap((f, i) => (f.readOnly ? [] : [`f${i}`]));
  if (writable.length > 0) volumes.push({ name: to, emptyDir: { sizeLimit: String(EMPTY_DIR_SIZE_BYTES) } });
  return {
    secretName,
    data: Object.fromEntries(files.map((f, i) => [`f${i}`, f.text])),
    volumes,
    mounts: files.map((f, i): V1VolumeMount => (f.readOnly
      ? { name: from, mountPath: f.containerPath, subPath: `f${i}`, readOnly: true }
      : { name: to, mountPath: f.containerPath, subPath: `f${i}` })),
    copy: writable.length > 0 ? { cname, from, to, keys: writable } : null,
  };
}

function filesInitContainer(image: string, pull: string, copies: FileCopy[]): V1Container {
  return {
    name: FILES_CONTAINER,
    image,
    imagePullPolicy: pull,
    command: ["/usr/local/bin/node", "-e", COPY_FILES_JS, ...copies.flatMap((c) => c.keys.map((k) => `${FILES_SRC_DIR}/${c.cname}/${k}=${FILES_DST_DIR}/${c.cname}/${k}`))],
    volumeMounts: copies.flatMap((c) => [
      { name: c.from, mountPath: `${FILES_SRC_DIR}/${c.cname}`, readOnly: true },
      { name: c.to, mountPath: `${FILES_DST_DIR}/${c.cname}` },
    ]),
    securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
    resources: { limits: { memory: String(64 * 1024 * 1024), cpu: "200m" } },
  };
}

/** An image's ENTRYPOINT and CMD, as its config has them (Docker/OCI image config). */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
}

/** How the gateway sidecar reaches the owning node's gateway listener (kube/gateway.ts). */
export type GatewayTarget =
  /** A real cluster: the node's address as Pods can reach it. */
  | { kind: "tcp"; host: string; port: number }
  /** A single machine (podman): a unix socket in a host directory mounted into the Pod. */
  | { kind: "unix"; hostDir: string; socketName: string };

export interface PodPlan {
  namespace: string;
  ownerId: string;
  room: string;
  sessionId: string;
  /** Bumped whenever the Pod must be replaced (a service added, restarted with a new spec, or stopped). */
  generation: number;
  specs: ServiceLaunchSpec[];
  gateway: { image: string; target: GatewayTarget; key: string };
  /** "Never" where images are loaded locally (podman, kind); default "IfNotPresent". */
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** By image reference: the images whose config is known run their services under the launcher. */
  imageConfigs?: Record<string, ImageConfig>;
}

export interface PodManifests {
  pod: V1Pod;
  /**
   * One per service with secret files or session values (role "service"), one per service
   * with file mounts (role "files"), and the gateway's (its session key).
   */
  secrets: V1Secret[];
  /** container name → service id */
  containers: Record<string, string>;
}

/** A Kubernetes label value: ≤ 63 chars of [A-Za-z0-9_.-], alphanumeric at both ends; hashed when `s` is not one. */
export function labelValue(s: string): string {
  if (/^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/.test(s)) return s;
  const hash = createHash("sha256").update(s).digest("hex").slice(0, 10);
  const clean = s.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 40).replace(/[^A-Za-z0-9]+$/, "");
  return clean === "" ? `h-${hash}` : `${clean}-${hash}`;
}

/** An RFC 1123 label (lowercase alphanumerics and "-", ≤ `max`), hashed when `s` is not already one. */
export function dnsLabel(s: string, max = 63): string {
  if (s.length <= max && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s)) return s;
  const hash = createHash("sha256").update(s).digest("hex").slice(0, 8);
  const clean = s.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, max - 9).replace(/-+$/, "");
  return clean === "" ? `x-${hash}` : `${clean}-${hash}`;
}

function hash(s: string, n: number): string {
  return createHash("sha256").update(s).digest("hex").slice(0, n);
}

/** Every Pod and Secret name of an owner starts with this (podman secrets have no labels to select on). */
export function ownerPrefix(ownerId: string): string {
  return `rs-${hash(ownerId, 8)}-`;
}

/** Every Pod and Secret name of one session starts with this (the owner's prefix, then the room and session hashed). */
export function sessionPrefix(ownerId: string, room: string, sessionId: string): string {
  return `${ownerPrefix(ownerId)}${hash(`${room}\0${sessionId}`, 12)}-`;
}

/** The Pod's name: the session's prefix plus the generation (a replaced Pod gets a new name). */
export function podName(ownerId: string, room: string, sessionId: string, generation: number): string {
  return `${sessionPrefix(ownerId, room, sessionId)}g${generation}`;
}

/** Kubernetes durations are whole seconds; round up so a probe is never stricter than asked. */
function seconds(ms: number, min: number): number {
  return Math.max(min, Math.ceil(ms / 1000));
}

/**
 * A probe in Kubernetes terms. `startIntervalMs` has no Kubernetes field (the kubelet probes at
 * `periodSeconds` from the start), so a room becomes ready up to one period later than under
 * docker; liveness and startup probes must have successThreshold 1 (Kubernetes validation).
 */
export function kubeProbe(p: Probe, kind: "readiness" | "liveness" | "startup"): V1Probe {
  const out: V1Probe = {
    initialDelaySeconds: seconds(p.initialDelayMs, 0),
    periodSeconds: seconds(p.periodMs, 1),
    timeoutSeconds: seconds(p.timeoutMs, 1),
    failureThreshold: Math.max(1, p.failureThreshold),
    successThreshold: kind === "readiness" ? Math.max(1, p.successThreshold) : 1,
  };
  const a = p.action;
  if (a.kind === "http") {
    out.httpGet = { path: a.path, port: a.port, ...(a.headers && a.headers.length > 0 ? { httpHeaders: a.headers.map((h) => ({ name: h.name, value: h.value })) } : {}) };
  } else if (a.kind === "tcp") {
    out.tcpSocket = { port: a.port };
  } else {
    out.exec = { command: a.command };
  }
  return out;
}

/** Kubernetes restartPolicy is per Pod: the most restarting policy any service asks for wins. */
export function podRestartPolicy(specs: ServiceLaunchSpec[]): "Always" | "OnFailure" | "Never" {
  if (specs.some((s) => s.restart.policy === "always")) return "Always";
  if (specs.some((s) => s.restart.policy === "on-failure")) return "OnFailure";
  return "Never";
}

function cpuQuantity(nanoCpus: number): string {
  return `${Math.max(1, Math.round(nanoCpus / 1e6))}m`;
}

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Builds the Pod and its Secrets for one room session. Throws (with the service and field)
 * when a spec cannot be expressed: a secret name Kubernetes refuses as a key, a service id
 * that collides with another's container name.
 */
export function buildPodManifests(plan: PodPlan): PodManifests {
  const name = podName(plan.ownerId, plan.room, plan.sessionId, plan.generation);
  const labels = {
    [KUBE_LABEL.owner]: labelValue(plan.ownerId),
    [KUBE_LABEL.room]: labelValue(plan.room),
    [KUBE_LABEL.session]: labelValue(plan.sessionId),
  };
  const pull = plan.imagePullPolicy ?? "IfNotPresent";
  const secrets: V1Secret[] = [];
  const volumes: V1Volume[] = [];
  const containers: V1Container[] = [];
  const byContainer: Record<string, string> = {};
  const secretObject = (secretName: string, role: string, data: Record<string, string>): V1Secret => ({
    apiVersion: "v1", kind: "Secret", type: "Opaque",
    metadata: { name: secretName, namespace: plan.namespace, labels: { ...labels, [KUBE_LABEL.role]: role, [KUBE_LABEL.generation]: String(plan.generation) } },
    stringData: data,
  });
  // Sorted: the same plan always gives the same manifest (and diffable YAML).
  const specs = [...plan.specs].sort((a, b) => a.serviceId.localeCompare(b.serviceId));
  let hostMounts = 0;
  let launcherUsed = false;
  const fileCopies: FileCopy[] = [];
  for (const spec of specs) {
    const cname = dnsLabel(spec.serviceId, 50);
    if (cname === GATEWAY_CONTAINER || cname === LAUNCHER_CONTAINER || cname === FILES_CONTAINER || byContainer[cname] !== undefined) {
      throw new Error(`service ${JSON.stringify(spec.serviceId)}: container name ${cname} is already used in this Pod`);
    }
    byContainer[cname] = spec.serviceId;
    const secretEnv = (spec.secretEnv ?? []).filter((k) => k in spec.secretFiles);
    const sessionNames = new Set((spec.sessionEnv ?? []).filter((k) => k in spec.env && !(k in spec.secretFiles)));
    const image = plan.imageConfigs?.[spec.image];
    const launch = image !== undefined ? [...image.entrypoint, ...(spec.command ?? image.cmd)] : null;
    if (launch !== null && launch.length === 0) {
      throw new Error(`service ${JSON.stringify(spec.serviceId)}: image ${spec.image} has no entrypoint or command, and the manifest gives no command`);
    }
    const env: V1EnvVar[] = Object.keys(spec.env).filter((k) => !sessionNames.has(k)).sort().map((k) => ({ name: k, value: spec.env[k]! }));
    const mounts: V1VolumeMount[] = [];
    const data: Record<string, string> = { ...spec.secretFiles };
    for (const k of sessionNames) data[k] = spec.env[k]!;
    const keys = Object.keys(data).sort();
    if (keys.length > 0) {
      for (const k of keys) {
        if (!SECRET_KEY.test(k)) throw new Error(`service ${JSON.stringify(spec.serviceId)}: secret ${JSON.stringify(k)} is not a valid Kubernetes Secret key (letters, digits, "-", "_", ".")`);
      }
      const secretName = `${name}-${cname}`.slice(0, 253);
      secrets.push(secretObject(secretName, "service", Object.fromEntries(keys.map((k) => [k, data[k]!]))));
      const vol = `secrets-${cname}`.slice(0, 63);
      // optional: false spelled out — podman 4.3's kube play dereferences it unchecked.
      volumes.push({ name: vol, secret: { secretName, defaultMode: 0o400, optional: false } });
      mounts.push({ name: vol, mountPath: SECRETS_MOUNT, readOnly: true });
      if (launch === null) {
        // No launcher: a reference in the Pod spec, the value only in the Secret.
        for (const k of [...[...sessionNames].sort(), ...secretEnv]) env.push({ name: k, valueFrom: { secretKeyRef: { name: secretName, key: k } } });
      }
    }
    if (launch !== null) {
      launcherUsed = true;
      const names = [...[...sessionNames].sort(), ...secretEnv];
      if (names.length > 0) env.push({ name: SECRET_ENV_VAR, value: names.join(",") });
      env.push({ name: INIT_ENV_VAR, value: "1" });
      mounts.push({ name: LAUNCHER_VOLUME, mountPath: LAUNCHER_DIR, readOnly: true });
    }
    for (const m of spec.mounts) {
      const vol = `storage-${hostMounts++}`;
      volumes.push({ name: vol, hostPath: { path: m.hostPath, type: "Directory" } });
      mounts.push({ name: vol, mountPath: m.containerPath, readOnly: m.readOnly });
    }
    const files = fileVolumes(spec, cname, name);
    if (files !== null) {
      secrets.push(secretObject(files.secretName, "files", files.data));
      volumes.push(...files.volumes);
      mounts.push(...files.mounts);
      if (files.copy !== null) fileCopies.push(files.copy);
    }
    (spec.emptyDirs ?? []).forEach((d, i) => {
      const vol = dnsLabel(`empty-${cname}-${i}`);
      volumes.push({ name: vol, emptyDir: { sizeLimit: String(EMPTY_DIR_SIZE_BYTES) } });
      mounts.push({ name: vol, mountPath: d.containerPath, readOnly: d.readOnly });
    });
    // Parents first (a file mount inside an empty dir): not every engine orders them itself.
    const depth = (p: string) => p.split("/").filter(Boolean).length;
    mounts.sort((a, b) => depth(a.mountPath) - depth(b.mountPath));
    const limits: Record<string, string> = {};
    if (spec.resources.memoryBytes !== undefined) limits.memory = String(spec.resources.memoryBytes);
    if (spec.resources.nanoCpus !== undefined) limits.cpu = cpuQuantity(spec.resources.nanoCpus);
    const c: V1Container = {
      name: cname,
      image: spec.image,
      imagePullPolicy: pull,
      env,
      // Under the launcher: it is the command, the image's ENTRYPOINT + CMD (or the manifest's
      // command) its arguments. Without it `args`, not `command`: like docker's Cmd, it keeps
      // the image's ENTRYPOINT.
      ...(launch !== null ? { command: [ENVEXEC_MOUNT], args: launch } : spec.command !== undefined ? { args: spec.command } : {}),
      ...(spec.workingDir !== undefined ? { workingDir: spec.workingDir } : {}),
      ports: spec.ports.map((p) => ({ containerPort: p.num, protocol: "TCP" })),
      volumeMounts: mounts,
      securityContext: { readOnlyRootFilesystem: !spec.writableRootFs, allowPrivilegeEscalation: false },
      ...(Object.keys(limits).length > 0 ? { resources: { limits } } : {}),
    };
    if (spec.probes.readiness) c.readinessProbe = kubeProbe(spec.probes.readiness, "readiness");
    if (spec.probes.liveness) c.livenessProbe = kubeProbe(spec.probes.liveness, "liveness");
    if (spec.probes.startup) c.startupProbe = kubeProbe(spec.probes.startup, "startup");
    containers.push(c);
  }

  // The gateway: its session key comes from its own Secret, as a file.
  const gwSecret = `${name}-gateway`;
  secrets.push(secretObject(gwSecret, "gateway", { key: plan.gateway.key }));
  volumes.push({ name: "gateway-key", secret: { secretName: gwSecret, defaultMode: 0o400, optional: false } });
  const gwMounts: V1VolumeMount[] = [{ name: "gateway-key", mountPath: GATEWAY_KEY_FILE.slice(0, GATEWAY_KEY_FILE.lastIndexOf("/")), readOnly: true }];
  const t = plan.gateway.target;
  let nodeAddr: string;
  if (t.kind === "tcp") {
    nodeAddr = `tcp://${t.host}:${t.port}`;
  } else {
    volumes.push({ name: "gateway-socket", hostPath: { path: t.hostDir, type: "Directory" } });
    gwMounts.push({ name: "gateway-socket", mountPath: "/run/roomservice-node", readOnly: true });
    nodeAddr = `unix:///run/roomservice-node/${t.socketName}`;
  }
  containers.push({
    name: GATEWAY_CONTAINER,
    image: plan.gateway.image,
    imagePullPolicy: pull,
    env: [{ name: "RS_GATEWAY_NODE", value: nodeAddr }, { name: "RS_GATEWAY_KEY_FILE", value: GATEWAY_KEY_FILE }],
    volumeMounts: gwMounts,
    securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
    resources: { limits: { memory: String(64 * 1024 * 1024), cpu: "200m" } },
    readinessProbe: { tcpSocket: { port: 8078 }, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3, successThreshold: 1 },
  });

  const initContainers: V1Container[] = [];
  if (launcherUsed) {
    // In memory, one small binary; filled before any service container starts.
    volumes.push({ name: LAUNCHER_VOLUME, emptyDir: { medium: "Memory", sizeLimit: "16Mi" } });
    initContainers.push({
      name: LAUNCHER_CONTAINER,
      image: plan.gateway.image,
      imagePullPolicy: pull,
      command: ["/usr/local/bin/node", "/app/install-launcher.js", ENVEXEC_MOUNT],
      volumeMounts: [{ name: LAUNCHER_VOLUME, mountPath: LAUNCHER_DIR }],
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
      resources: { limits: { memory: String(64 * 1024 * 1024), cpu: "200m" } },
    });
  }

  if (fileCopies.length > 0) initContainers.push(filesInitContainer(plan.gateway.image, pull, fileCopies));

  const grace = Math.max(1, ...specs.map((s) => seconds(s.stop.gracePeriodMs, 0)));
  const pod: V1Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: plan.namespace,
      labels: { ...labels, [KUBE_LABEL.role]: "room", [KUBE_LABEL.generation]: String(plan.generation) },
      annotations: { [SERVICES_ANNOTATION]: JSON.stringify(byContainer), [ROOM_ANNOTATION]: plan.room },
    },
    spec: {
      restartPolicy: podRestartPolicy(specs),
      terminationGracePeriodSeconds: grace,
      // Services reach the room only through the gateway; no API credentials in the Pod.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      ...(initContainers.length > 0 ? { initContainers } : {}),
      containers,
      volumes,
    },
  };
  return { pod, secrets, containers: byContainer };
}
