/**
 * The Pod runtimes from the environment (ROOMSERVICE_RUNTIME=kubernetes | podman; never chosen
 * by `auto`). Kubernetes needs to know the gateway sidecar's image (pushed to a registry the
 * cluster pulls from) and the address Pods dial to reach this node; podman runs on this
 * machine and gets the sidecar image from the local Docker daemon when it lacks it.
 */
import type { Logger } from "pino";
import {
  buildGatewayImage, createDockerRuntime, createKubernetesRuntime, createPodmanRuntime, DockerEngine, dockerImageConfig, GATEWAY_IMAGE, loadIntoPodman,
  type Runtime,
} from "@roomservice/runtime";

/** Reads `host:port`; throws naming the variable when it is not one. */
function hostPort(name: string, v: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(v);
  if (m === null || Number(m[2]) > 65535) throw new Error(`${name} must be host:port, got ${JSON.stringify(v)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

export async function createPodRuntimeFromEnv(mode: "kubernetes" | "podman", ownerId: string, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  if (mode === "kubernetes") {
    const image = env.ROOMSERVICE_KUBE_GATEWAY_IMAGE;
    const address = env.ROOMSERVICE_KUBE_GATEWAY_ADDRESS;
    if (!image) throw new Error(`ROOMSERVICE_RUNTIME=kubernetes needs ROOMSERVICE_KUBE_GATEWAY_IMAGE: the Room API sidecar image (${GATEWAY_IMAGE}, pushed to a registry the cluster pulls from)`);
    if (!address) throw new Error("ROOMSERVICE_RUNTIME=kubernetes needs ROOMSERVICE_KUBE_GATEWAY_ADDRESS: host:port at which Pods reach this node's gateway (e.g. the node's Pod IP and a port)");
    const adv = hostPort("ROOMSERVICE_KUBE_GATEWAY_ADDRESS", address);
    const listen = env.ROOMSERVICE_KUBE_GATEWAY_LISTEN ? hostPort("ROOMSERVICE_KUBE_GATEWAY_LISTEN", env.ROOMSERVICE_KUBE_GATEWAY_LISTEN) : { host: "0.0.0.0", port: adv.port };
    const imageConfig = env.ROOMSERVICE_KUBE_IMAGE_CONFIG;
    if (imageConfig !== undefined && imageConfig !== "docker" && imageConfig !== "none") {
      throw new Error(`ROOMSERVICE_KUBE_IMAGE_CONFIG must be "docker" or "none", got ${JSON.stringify(imageConfig)}`);
    }
    // "docker": the images' ENTRYPOINT/CMD from this node's Docker (built here, then pushed), so
    // services run under the launcher (session values from Secret files, stop signal to the group).
    // The engine is the runtime's alone: it is closed with it.
    const docker = imageConfig === "docker" ? new DockerEngine() : null;
    const rt = await createKubernetesRuntime({
      ownerId, logger: log, gatewayImage: image, namespace: env.ROOMSERVICE_KUBE_NAMESPACE ?? "default",
      gateway: { kind: "tcp", host: listen.host, port: listen.port, advertiseHost: adv.host },
      ...(docker !== null ? { imageConfig: dockerImageConfig(docker), releaseOnClose: [docker] } : {}),
    }).catch((err: unknown) => {
      docker?.close();
      throw err;
    });
    log.info({ ownerId, namespace: rt.namespace }, "using the kubernetes runtime");
    return rt;
  }
  const rt = await createPodmanRuntime({ ownerId, logger: log });
  // Best effort: the sidecar image from Docker, when Docker is here and podman lacks it.
  try {
    const docker = await createDockerRuntime({ ownerId: `${ownerId}-images`, logger: log });
    try {
      await buildGatewayImage(docker.docker);
    } finally {
      await docker.close();
    }
    await loadIntoPodman(GATEWAY_IMAGE);
  } catch (err) {
    log.warn({ err }, `could not prepare ${GATEWAY_IMAGE} for podman from Docker; Pods start only if podman already has it`);
  }
  log.info({ ownerId }, "using the podman runtime (Kubernetes Pod YAML through podman kube play)");
  return rt;
}
