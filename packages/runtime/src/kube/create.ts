/**
 * Constructors of the Pod runtime for its two engines, and the gateway sidecar's image.
 */
import { execFile, spawn } from "node:child_process";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { DockerEngine } from "../docker/engine.ts";
import { ensureEnvexec } from "../docker/envexec.ts";
import { buildBaseImage, buildImage } from "../docker/images.ts";
import type { Clock, Logger } from "../types.ts";
import type { GatewayListen } from "./gateway.ts";
import type { ImageConfig } from "./manifest.ts";
import type { KubernetesPodApi } from "./k8s-api.ts";
import { PodmanPodApi, type PodmanApiOptions } from "./podman-api.ts";
import { PodRuntime } from "./runtime.ts";

const run = promisify(execFile);

/** The gateway sidecar's image tag (bump with gateway-image/ or the envexec launcher's source). */
export const GATEWAY_IMAGE = "roomservice/pod-gateway:3";
export const GATEWAY_IMAGE_DIR = fileURLToPath(new URL("./gateway-image", import.meta.url));

/**
 * Builds the gateway image with Docker (FROM the node base image): the Room API sidecar, and
 * the envexec launcher the Pod's init container installs for the services (manifest.ts). A
 * cluster pulls it from a registry you push it to. Throws when the launcher cannot be
 * compiled (it needs a C compiler: apt-get install gcc libc6-dev).
 */
export async function buildGatewayImage(docker: DockerEngine): Promise<string> {
  const launcher = await ensureEnvexec();
  if (launcher === null) throw new Error("the Pod gateway image needs the envexec launcher, which could not be compiled: install a C compiler (apt-get install gcc libc6-dev)");
  await buildBaseImage(docker);
  const ctx = await mkdtemp(join(tmpdir(), "rs-gateway-image-"));
  try {
    for (const f of await readdir(GATEWAY_IMAGE_DIR)) await copyFile(join(GATEWAY_IMAGE_DIR, f), join(ctx, f));
    await copyFile(launcher, join(ctx, "envexec"));
    return await buildImage(docker, ctx, GATEWAY_IMAGE);
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}

/**
 * An `imageConfig` resolver reading the images' ENTRYPOINT and CMD from a Docker daemon (where
 * the images were built before being pushed under the same name); null for an image Docker
 * does not have, or when Docker cannot be asked (then the service runs without the launcher).
 */
export function dockerImageConfig(docker: DockerEngine): (image: string) => Promise<ImageConfig | null> {
  return async (image) => {
    try {
      const img = await docker.json<{ Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }>({ method: "GET", path: `/images/${encodeURIComponent(image)}/json` });
      return { entrypoint: img.Config?.Entrypoint ?? [], cmd: img.Config?.Cmd ?? [] };
    } catch {
      return null;
    }
  };
}

export interface KubernetesRuntimeOptions {
  ownerId: string;
  logger: Logger;
  clock?: Clock;
  namespace?: string;
  /** An image the cluster can pull (push GATEWAY_IMAGE to your registry). */
  gatewayImage: string;
  /** Where this node accepts sidecar connections: host/port Pods can reach (advertiseHost when behind NAT). */
  gateway: Extract<GatewayListen, { kind: "tcp" }>;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  api?: KubernetesPodApi;
  /**
   * An image's ENTRYPOINT and CMD (e.g. from your registry or `docker image inspect`), so a
   * service runs under the envexec launcher (session values as files, stop signal to the
   * process group). Without it, or when it answers null, the service runs its command
   * directly and gets its session values and secret env through secretKeyRef (still only in
   * the Secret, never in the Pod spec).
   */
  imageConfig?: (image: string) => Promise<ImageConfig | null>;
  /** Closed with the runtime (e.g. the DockerEngine behind `imageConfig`); see PodRuntimeOptions. */
  releaseOnClose?: { close(): void }[];
}

/**
 * The kubernetes runtime: Pods through the API server named by KUBECONFIG (or in-cluster
 * credentials). @kubernetes/client-node is loaded only here, so the other runtimes never pay for it.
 */
export async function createKubernetesRuntime(o: KubernetesRuntimeOptions): Promise<PodRuntime> {
  const api = o.api ?? new (await import("./k8s-api.ts")).KubernetesPodApi();
  return new PodRuntime({
    ownerId: o.ownerId, logger: o.logger, api, gatewayImage: o.gatewayImage, gateway: o.gateway,
    ...(o.clock ? { clock: o.clock } : {}), ...(o.namespace ? { namespace: o.namespace } : {}),
    ...(o.imagePullPolicy ? { imagePullPolicy: o.imagePullPolicy } : {}),
    ...(o.imageConfig ? { imageConfig: o.imageConfig } : {}),
    ...(o.releaseOnClose ? { releaseOnClose: o.releaseOnClose } : {}),
  });
}

export interface PodmanRuntimeOptions extends PodmanApiOptions {
  ownerId: string;
  logger: Logger;
  clock?: Clock;
  gatewayImage?: string;
  /** Directory of the gateway's unix socket (mounted into every Pod); default /run/roomservice-pods/<owner>. */
  socketDir?: string;
}

/** The same Pods on podman (`podman kube play`, one machine): images must be in podman's store (`loadIntoPodman`). */
export async function createPodmanRuntime(o: PodmanRuntimeOptions): Promise<PodRuntime> {
  const api = new PodmanPodApi({ ...o, logger: o.logger });
  await api.check();
  return new PodRuntime({
    ownerId: o.ownerId, logger: o.logger, api, gatewayImage: o.gatewayImage ?? GATEWAY_IMAGE, imagePullPolicy: "Never",
    gateway: { kind: "unix", dir: o.socketDir ?? `/run/roomservice-pods/${o.ownerId}` },
    imageConfig: (image) => api.imageConfig(image),
    ...(o.clock ? { clock: o.clock } : {}),
  });
}

/**
 * Copies a Docker image into podman's store (`docker save | podman load`; no registry needed),
 * unless podman already has the same image id.
 */
export async function loadIntoPodman(image: string, o: { containersConf?: string } = {}): Promise<void> {
  const env = { ...process.env, ...(o.containersConf ? { CONTAINERS_CONF: o.containersConf } : {}) };
  const id = (await run("docker", ["image", "inspect", "--format", "{{.Id}}", image])).stdout.trim();
  const have = await run("podman", ["image", "inspect", "--format", "{{.Id}}", image], { env }).then((r) => `sha256:${r.stdout.trim()}`, () => "");
  if (have === id) return;
  await new Promise<void>((resolve, reject) => {
    const save = spawn("docker", ["save", image], { stdio: ["ignore", "pipe", "pipe"] });
    const load = spawn("podman", ["load"], { env, stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    save.stderr.on("data", (c: Buffer) => (err += c));
    load.stderr.on("data", (c: Buffer) => (err += c));
    save.stdout.pipe(load.stdin);
    load.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`docker save ${image} | podman load failed (${code}): ${err.trim().slice(-500)}`))));
    save.on("error", reject);
    load.on("error", reject);
  });
}
