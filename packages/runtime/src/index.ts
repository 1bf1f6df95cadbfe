/**
 * @roomservice/runtime — runs a room's services. See README.md for the contract.
 */
export type {
  Clock, EventReason, LivenessStatus, LogLine, Logger, Probe, ProbeAction, ReapResult, RoomApiEndpoint, RoomSandbox, Runtime, ServiceConnector,
  ServiceEvent, ServiceHandle, ServiceHandleEvents, ServiceLaunchSpec, ServiceRuntimeState, ServiceStateName, StopOptions, StopResult,
} from "./types.ts";
export { ServiceStates } from "./types.ts";
export { createDockerRuntime, DockerRuntime, DockerRoomSandbox, type DockerRuntimeOptions } from "./docker/runtime.ts";
export { DockerEngine, DockerError, DEFAULT_DOCKER_SOCKET } from "./docker/engine.ts";
export { BASE_IMAGE, PAUSE_IMAGE, buildBaseImage, buildImage, ensurePauseImage, imageExists, type ProgressFn } from "./docker/images.ts";
export { LABEL } from "./docker/container.ts";
export { openListenerInNetns, NetnsError, ROOM_API_PORT } from "./netns/listener.ts";
export { LineSplitter, DockerDemuxer, makeMasker } from "./logs.ts";
export { defaultSecretsRoot, safeName, SECRETS_MOUNT } from "./secrets.ts";
export { createSandboxRuntime, SandboxRuntime, SandboxRoom, type SandboxRuntimeOptions } from "./sandbox/runtime.ts";
export { NetnsProber } from "./netns/prober.ts";
export { CpuMeter, type ResourceUsage, type CpuReading } from "./stats.ts";
export { DockerStatsSampler } from "./docker/stats.ts";
export { SandboxStatsSampler, readProcessTree, pidOfSandboxId } from "./sandbox/stats.ts";
export { buildDebianImage, debianRecipeTag, probeDebianMirror, hostDebianMirror, hostDebianSuite, debianRecipeHash, DebianImageError, DEBIAN_PRESETS, DEBIAN_LABEL, type BuildDebianOptions, type DebianImageResult, type DebianRecipe } from "./docker/debian-image.ts";
export { NetnsConnector } from "./netns/connector.ts";
export { HelperSpawnLimit, HELPER_SPAWN_BOUNDS, validateHelperSpawnOptions, type HelperSpawnLimitOptions, type ReleaseSlot } from "./netns/spawn-limit.ts";
export { PodRuntime, PodRoomSandbox, type PodRuntimeOptions } from "./kube/runtime.ts";
export { buildPodManifests, kubeProbe, podRestartPolicy, labelValue, dnsLabel, podName, ownerPrefix, sessionPrefix, KUBE_LABEL, GATEWAY_CONTAINER, LAUNCHER_CONTAINER, LAUNCHER_VOLUME, type PodPlan, type PodManifests, type GatewayTarget, type ImageConfig } from "./kube/manifest.ts";
export { PodGateway, type GatewayListen } from "./kube/gateway.ts";
export type { KubernetesPodApi } from "./kube/k8s-api.ts";
export { PodmanPodApi, PODMAN_CONF, writePodmanConf } from "./kube/podman-api.ts";
export { createKubernetesRuntime, createPodmanRuntime, buildGatewayImage, loadIntoPodman, dockerImageConfig, GATEWAY_IMAGE, type KubernetesRuntimeOptions, type PodmanRuntimeOptions } from "./kube/create.ts";
export type { PodApi, PodObservation, ContainerObservation, PodEvent } from "./kube/api.ts";
