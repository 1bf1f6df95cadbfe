/**
 * The runtime surface the server uses, from @roomservice/runtime (docker and sandbox
 * implement the same interface, so the server never branches on which one it has).
 */
export type {
  Runtime, RoomSandbox, ServiceHandle, ServiceLaunchSpec as LaunchSpec, ServiceRuntimeState as ServiceStateJson, LogLine,
} from "@roomservice/runtime";
