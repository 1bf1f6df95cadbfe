/**
 * Runtime factories for the conformance suite (suite.ts): each builds a real runtime with a
 * fresh owner id, the test app for it (an image, or host paths for the sandbox), and says
 * what it leaves behind (for the reaping check) and which optional behaviours it has.
 * Also used by fixtures/crashed-run.ts, which builds the same runtime in a child process.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildBaseImage, buildGatewayImage, buildImage, createDockerRuntime, createKubernetesRuntime, createPodmanRuntime,
  DockerEngine, defaultSecretsRoot, GATEWAY_IMAGE, LABEL, loadIntoPodman, ownerPrefix, type RoomSandbox, type Runtime, type ServiceLaunchSpec,
} from "../../src/index.ts";
import type { PodRoomSandbox } from "../../src/kube/runtime.ts";
import { createSandboxRuntime } from "../../src/index.ts";
import { APP_IMAGE, NODE, spec as dockerSpec, testLogger } from "../helpers.ts";

export type RuntimeKind = "docker" | "sandbox" | "podman" | "kubernetes";

const APP_DIR = fileURLToPath(new URL("../fixtures/app", import.meta.url));

export interface Capabilities {
  /** The engine runs readiness probes (all do: podman 4.3 ignores them, so its backend runs them). */
  evaluatesProbes: boolean;
  /** stderr arrives as stderr (the Kubernetes log API merges the two streams). */
  separatesStderr: boolean;
  /** Two rooms cannot reach each other's localhost ports; a string says why it is not checked. */
  isolatesRooms: true | string;
  /**
   * Everything the engine shows about a room's containers to whoever may inspect them
   * (`docker inspect`, `podman pod/container inspect` + `podman kube generate`, the Pod object
   * as `kubectl get pod -o yaml` shows it), as text; a string says why there is none.
   */
  engineView: ((sb: RoomSandbox) => Promise<string>) | string;
  /**
   * A restart whose spec changes only values (a new token, a new secret value), and stopping
   * one service, leave the room's other services running untouched; a string says why not.
   */
  restartsInPlace: true | string;
  /** A changed configuration restarts the room's other services too (one Pod per room). */
  siblingsRestartOnChange: boolean;
  /**
   * Empty dirs, and changes to writable file mounts, survive a restart of their container
   * (a Pod's emptyDir lives as long as the Pod); otherwise every run starts from scratch.
   */
  emptyDirsSurviveRestart: boolean;
}

export interface Harness {
  kind: RuntimeKind;
  runtime: Runtime;
  ownerId: string;
  caps: Capabilities;
  /** A launch spec running fixtures/app/<script> in this runtime. */
  spec(id: string, script: string, over?: Partial<ServiceLaunchSpec>): ServiceLaunchSpec;
  /** What of `ownerId` exists now (containers, Pods, namespaces, secret dirs), one string each. */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

/** Why a kind cannot run here, or null when it can. */
export function unavailable(kind: RuntimeKind): string | null {
  if (kind === "kubernetes") {
    if (!process.env.KUBECONFIG) return "no cluster: KUBECONFIG is not set (set it, plus RS_KUBE_APP_IMAGE, RS_KUBE_GATEWAY_IMAGE and RS_KUBE_NODE_HOST, to run this suite against a real cluster)";
    for (const v of ["RS_KUBE_APP_IMAGE", "RS_KUBE_GATEWAY_IMAGE", "RS_KUBE_NODE_HOST"]) {
      if (!process.env[v]) return `KUBECONFIG is set but ${v} is not (the cluster must pull the test images, and Pods must reach this node)`;
    }
    return null;
  }
  const has = (bin: string) => {
    try {
      execFileSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (kind === "podman" && !has("podman")) return "podman is not installed (scripts/ensure-system.sh installs it)";
  if (kind === "sandbox" && !has("bwrap")) return "bubblewrap is not installed";
  return null;
}

function secretDirs(root: string, ownerId: string, prefix: string | null): string[] {
  if (prefix !== null) {
    const dir = join(root, "pods");
    return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(prefix)).map((n) => `secret ${n}`) : [];
  }
  const dir = join(root, ownerId);
  return existsSync(dir) ? readdirSync(dir).map((n) => `secrets ${n}`) : [];
}

/** Builds a runtime of `kind` for `ownerId` (images prepared as needed). */
export async function makeRuntime(kind: RuntimeKind, ownerId: string): Promise<Runtime> {
  const logger = testLogger({ owner: ownerId, runtime: kind });
  if (kind === "docker") {
    const rt = await createDockerRuntime({ ownerId, logger });
    await buildBaseImage(rt.docker);
    await buildImage(rt.docker, APP_DIR, APP_IMAGE);
    return rt;
  }
  if (kind === "sandbox") return createSandboxRuntime({ ownerId, logger });
  if (kind === "podman") {
    const docker = new DockerEngine();
    try {
      await buildImage(docker, APP_DIR, APP_IMAGE, undefined).catch(async () => {
        await buildBaseImage(docker);
        await buildImage(docker, APP_DIR, APP_IMAGE);
      });
      await buildGatewayImage(docker);
    } finally {
      docker.close();
    }
    const rt = await createPodmanRuntime({ ownerId, logger });
    await loadIntoPodman(APP_IMAGE);
    await loadIntoPodman(GATEWAY_IMAGE);
    return rt;
  }
  return createKubernetesRuntime({
    ownerId, logger, namespace: process.env.RS_KUBE_NAMESPACE ?? "default", gatewayImage: process.env.RS_KUBE_GATEWAY_IMAGE!,
    // The test images are built here and pushed: their config is the local one.
    imageConfig: async (image) => {
      try {
        const c = JSON.parse(execFileSync("docker", ["image", "inspect", "--format", "{{json .Config}}", image], { encoding: "utf8" })) as { Entrypoint?: string[] | null; Cmd?: string[] | null };
        return { entrypoint: c.Entrypoint ?? [], cmd: c.Cmd ?? [] };
      } catch {
        return null;
      }
    },
    gateway: { kind: "tcp", host: "0.0.0.0", port: Number(process.env.RS_KUBE_NODE_PORT ?? 0), advertiseHost: process.env.RS_KUBE_NODE_HOST! },
  });
}

export async function makeHarness(kind: RuntimeKind, ownerId: string): Promise<Harness> {
  const runtime = await makeRuntime(kind, ownerId);
  const root = defaultSecretsRoot();
  const base = { kind, runtime, ownerId, close: () => runtime.close() };
  if (kind === "docker") {
    const docker = (runtime as unknown as { docker: DockerEngine }).docker;
    return {
      ...base,
      caps: {
        evaluatesProbes: true, separatesStderr: true, isolatesRooms: true, restartsInPlace: true, siblingsRestartOnChange: false, emptyDirsSurviveRestart: false,
        async engineView(sb) {
          const room = (sb as unknown as { room: string }).room;
          const cs = await docker.json<{ Id: string }[]>({ method: "GET", path: "/containers/json", query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.owner}=${ownerId}`, `${LABEL.room}=${room}`] }) } });
          return JSON.stringify(await Promise.all(cs.map((c) => docker.json({ method: "GET", path: `/containers/${c.Id}/json` }))));
        },
      },
      spec: (id, script, over = {}) => dockerSpec(id, script, over),
      async leftovers() {
        const cs = await docker.json<{ Id: string }[]>({ method: "GET", path: "/containers/json", query: { all: 1, filters: JSON.stringify({ label: [`${LABEL.owner}=${ownerId}`] }) } });
        return [...cs.map((c) => `container ${c.Id.slice(0, 12)}`), ...secretDirs(root, ownerId, null)];
      },
    };
  }
  if (kind === "sandbox") {
    return {
      ...base,
      caps: { evaluatesProbes: true, separatesStderr: true, isolatesRooms: true, restartsInPlace: true, siblingsRestartOnChange: false, emptyDirsSurviveRestart: false, engineView: "the env and Room API parts ran; the sandbox keeps no container configuration to inspect: env goes straight into bwrap's environment" },
      spec: (id, script, over = {}) => dockerSpec(id, script, { image: "host", command: [process.execPath, `${APP_DIR}/${script}`], resources: {}, ...over }),
      async leftovers() {
        const prefix = (runtime as unknown as { prefix(o: string): string }).prefix(ownerId);
        const ns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(prefix));
        return [...ns.map((n) => `netns ${n}`), ...secretDirs(root, ownerId, null)];
      },
    };
  }
  const pods = async (): Promise<string[]> => {
    if (kind !== "podman") return [];
    const out = execFileSync("podman", ["pod", "ps", "--filter", `label=roomservice.dev/owner=${ownerId}`, "--format", "{{.Name}}"], { encoding: "utf8" });
    return out.split("\n").filter(Boolean).map((n) => `pod ${n}`);
  };
  return {
    ...base,
    caps: {
      evaluatesProbes: true,
      separatesStderr: kind === "podman",
      isolatesRooms: kind === "podman" ? true : "a cluster's Pods reach each other unless a NetworkPolicy forbids it (deploy/ has one); not checked here",
      restartsInPlace: kind === "podman" ? true : "Kubernetes cannot restart or stop one container of a Pod on request: the Pod is replaced (docs/decisions.md)",
      siblingsRestartOnChange: true,
      emptyDirsSurviveRestart: true,
      async engineView(sb) {
        const pod = (sb as PodRoomSandbox).podName;
        if (pod === null) throw new Error("the room has no Pod");
        if (kind === "podman") {
          const podJson = execFileSync("podman", ["pod", "inspect", pod], { encoding: "utf8" });
          const ids = (JSON.parse(podJson) as { Containers?: { Id: string }[] }).Containers?.map((c) => c.Id) ?? [];
          const containers = execFileSync("podman", ["container", "inspect", ...ids], { encoding: "utf8" });
          // What podman reconstructs as the Pod's YAML: the `kubectl get pod -o yaml` of this engine.
          const yaml = execFileSync("podman", ["kube", "generate", pod], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
          return `${podJson}\n${containers}\n${yaml}`;
        }
        const { CoreV1Api } = await import("@kubernetes/client-node");
        const rt = runtime as unknown as { api: { kc: import("@kubernetes/client-node").KubeConfig }; namespace: string };
        const core = rt.api.kc.makeApiClient(CoreV1Api);
        return JSON.stringify(await core.readNamespacedPod({ name: pod, namespace: rt.namespace }));
      },
    },
    spec: (id, script, over = {}) => dockerSpec(id, script, {
      ...(kind === "kubernetes" ? { image: process.env.RS_KUBE_APP_IMAGE! } : {}), command: [NODE, `/app/${script}`], ...over,
    }),
    async leftovers() {
      if (kind === "kubernetes") {
        const rt = runtime as unknown as { api: { listOwned(ns: string, o: string, p: string): Promise<{ pods: string[]; secrets: string[] }> }; namespace: string };
        const o = await rt.api.listOwned(rt.namespace, ownerId, ownerPrefix(ownerId));
        return [...o.pods.map((p) => `pod ${p}`), ...o.secrets.map((s) => `secret ${s}`)];
      }
      return [...(await pods()), ...secretDirs(root, ownerId, ownerPrefix(ownerId))];
    },
  };
}
