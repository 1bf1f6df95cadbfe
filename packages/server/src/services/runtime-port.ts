/**
 * The runtime surface the server uses, from @roomservice/runtime (docker and sandbox
 * implement the same interface, so the server never branches on which one it has).
 */
import type { Runtime as BaseRuntime, ResourceUsage } from "@roomservice/runtime";

export type {
  RoomApiEndpoint, RoomSandbox, ServiceConnector, ServiceHandle, ServiceLaunchSpec as LaunchSpec, ServiceRuntimeState as ServiceStateJson, LogLine, StopResult, ResourceUsage,
} from "@roomservice/runtime";

/**
 * A runtime, optionally able to sample a running container's resource use (Studio's
 * diagnostics). `stats` resolves null when the container is gone or cannot be measured.
 * `forgetStats` drops what the runtime keeps to compute the next sample of a container (its
 * previous CPU reading): the sampler calls it once it stops sampling that container.
 */
export type Runtime = BaseRuntime & {
  stats?(containerId: string): Promise<ResourceUsage | null>;
  forgetStats?(containerId: string): void;
};
