/**
 * The PodApi on Debian's podman (4.3): `podman kube play` runs the same Pod and Secret
 * manifests a cluster would get, on one machine with no kube-apiserver. What this needs as
 * root in a container like CI's (probed; see docs/decisions.md "Pods on podman"):
 * - `catatonit` (the Pod's infra container is built from it locally; no registry needed);
 * - a containers.conf with `default_ulimits` (the default rlimits fail: "error setting rlimit
 *   type 7"), `cgroup_manager = "cgroupfs"` (no systemd) and `events_logger = "file"`;
 * - storage: the default overlay driver on ext4 works;
 * - network: `--network none` (the Pod gets its own loopback only; the gateway sidecar
 *   reaches this node through a unix socket in a hostPath directory).
 * Podman 4.3's limits, worked around or accepted:
 * - Secrets: a Secret volume without `optional` panics (#16636); `stringData` keys are not
 *   written at all, and `data` values are written still base64-encoded, mode 0644, on disk;
 *   `secretKeyRef` env fails ("secret … is not valid JSON", #16269). So this backend writes each
 *   Secret's values itself as 0400 files in a tmpfs directory (as the docker runtime does) and
 *   mounts that directory where the Secret volume was (a hostPath volume). Secret env and the
 *   session's values come from those files through the envexec launcher (the manifest does
 *   that whenever the image's config is known, which it always is here: `imageConfig`), so no
 *   secretKeyRef is ever played. The manifests a cluster gets keep the real Secrets.
 * - Init containers get the Pod's restartPolicy (an `Always` Pod restarts its init container
 *   for ever, and the Pod never starts). The only one the runtime makes installs the launcher
 *   into an emptyDir; this backend drops it and mounts the host's launcher binary there instead.
 * - File mounts: no `subPath` (4.4 added it), and their copying init container would restart
 *   for ever like the launcher's: podman-files.ts plays them as hostPath mounts of the files.
 * - Annotations: values over 63 characters are refused (a label rule applied to annotations),
 *   so the Pod's annotations (for operators only) are dropped.
 * - Ports: `containerPort` becomes a published port (refused without a bridge), so it is dropped.
 * - Probes: readiness probes are ignored, and liveness and startup probes become healthchecks
 *   that only systemd timers run; so this backend takes them out of the played Pod and runs
 *   all three itself from the Pod's own probe fields, the kubelet's way (podman-probes.ts),
 *   recording the kubelet's Unhealthy and Killing events (`events`).
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { ContainerObservation, PodApi, PodEvent, PodObservation } from "./api.ts";
import type { V1Pod, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "../types.ts";
import { PodProbes, type ContainerProbes } from "./podman-probes.ts";
import { playFileMounts } from "./podman-files.ts";
import { HelperSpawnLimit } from "../netns/spawn-limit.ts";
import type { ImageConfig, PodManifests } from "./manifest.ts";
import { KUBE_LABEL, LAUNCHER_CONTAINER, LAUNCHER_VOLUME } from "./manifest.ts";
import { ensureEnvexec, ENVEXEC_MOUNT } from "../docker/envexec.ts";
import { defaultSecretsRoot } from "../secrets.ts";
import { EXEC_KILL_WAIT_MS, formatSeconds } from "../docker/exec-probe.ts";
import { killTree, processesRunning } from "../proc.ts";

export interface PodmanApiOptions {
  /** Path of the containers.conf to use; default: one written by `writePodmanConf` under the temp dir. */
  containersConf?: string;
  /** `podman kube play --network`; default "none". */
  network?: string;
  podman?: string;
  /** Where Secret values are written (must be tmpfs); default <defaultSecretsRoot()>/pods. */
  secretsRoot?: string;
  logger?: Logger;
}

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => silent };

/** The containers.conf the runtime needs as root without systemd (see the module comment). */
export const PODMAN_CONF = `[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

export function writePodmanConf(dir = join(tmpdir(), "roomservice-podman")): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "containers.conf");
  writeFileSync(path, PODMAN_CONF);
  return path;
}

export class PodmanError extends Error {
  override name = "PodmanError";
}

interface InspectedContainer {
  Id: string;
  Name: string;
  RestartCount?: number;
  State: { Status: string; ExitCode: number; OOMKilled: boolean; StartedAt: string; FinishedAt: string; Pid?: number };
}

function ms(iso: string): number {
  const t = Date.parse(iso);
  return Number.isFinite(t) && t > 0 ? t : 0;
}

export class PodmanPodApi implements PodApi {
  readonly kind = "podman" as const;
  /** Yes: readiness, liveness and startup probes, run by this backend (podman-probes.ts). */
  readonly evaluatesProbes = true;
  private readonly bin: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly network: string;
  private readonly followers = new Set<() => void>();
  readonly secretsRoot: string;
  private readonly log: Logger;
  /** Bounds concurrent probe-helper start-ups across this backend's Pods. */
  private readonly helperSpawns = new HelperSpawnLimit();
  /** Probes per live Pod, by Pod name. */
  private readonly probes = new Map<string, PodProbes>();
  /** Events this backend records (podman has no event API for probes), by Pod name; bounded. */
  private readonly podEvents = new Map<string, PodEvent[]>();

  constructor(o: PodmanApiOptions = {}) {
    this.log = o.logger ?? silent;
    this.secretsRoot = o.secretsRoot ?? join(defaultSecretsRoot(), "pods");
    this.bin = o.podman ?? "podman";
    this.env = { ...process.env, CONTAINERS_CONF: o.containersConf ?? writePodmanConf() };
    this.network = o.network ?? "none";
  }

  /** Runs podman; rejects with its stderr. `okCodes` are exit codes that count as success. */
  private run(args: string[], okCodes: number[] = [0]): Promise<{ stdout: string; code: number }> {
    return new Promise((resolve, reject) => {
      execFile(this.bin, args, { env: this.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1;
        if (okCodes.includes(code)) return resolve({ stdout, code });
        reject(new PodmanError(`podman ${args.slice(0, 3).join(" ")} failed (${code}): ${(stderr || (err as Error).message).trim().split("\n").slice(-3).join(" ")}`));
      });
    });
  }

  /** Checks that podman runs (and says what to install when it does not). */
  async check(): Promise<void> {
    try {
      await this.run(["version", "--format", "{{.Client.Version}}"]);
    } catch (err) {
      throw new PodmanError(`podman is not usable: ${(err as Error).message}; install it with: apt-get install -y podman catatonit`);
    }
  }

  async create(m: PodManifests): Promise<void> {
    const pod = structuredClone(m.pod) as V1Pod;
    // podman 4.3 refuses annotation values over 63 characters (Kubernetes allows 256 KiB in
    // all); ours are for operators only (the runtime keeps the container map in memory).
    if (pod.metadata) delete pod.metadata.annotations;
    for (const c of pod.spec?.containers ?? []) {
      // Informational in Kubernetes, but podman 4.3 turns containerPort into a host port
      // mapping, which `--network none` refuses ("PortMappings can only be used with Bridge").
      delete c.ports;
      // Only for an image whose config was not known (podman always knows it: imageConfig).
      const ref = c.env?.find((e) => e.valueFrom?.secretKeyRef !== undefined);
      if (ref !== undefined) throw new PodmanError(`container ${c.name}: secretKeyRef env (${ref.name}) is not supported on podman 4.3 (kube play cannot read it); the launcher delivers it when the image's config is known`);
    }
    await this.replaceLauncherInit(pod);
    // Secret values as 0400 files on tmpfs, mounted where the Secret volume was (see the module comment).
    for (const s of m.secrets) {
      const name = s.metadata!.name!;
      const dir = await this.writeSecret(s, true);
      for (const vol of pod.spec?.volumes ?? []) {
        if (vol.secret?.secretName !== name) continue;
        delete vol.secret;
        vol.hostPath = { path: dir, type: "Directory" };
      }
    }
    await playFileMounts(pod, (msg) => new PodmanError(msg));
    // The probes run here (podman-probes.ts), so podman gets none to turn into healthchecks.
    const probes = new Map<string, ContainerProbes>();
    for (const c of pod.spec?.containers ?? []) {
      const cp: ContainerProbes = {};
      if (c.startupProbe) cp.startup = c.startupProbe;
      if (c.readinessProbe) cp.readiness = c.readinessProbe;
      if (c.livenessProbe) cp.liveness = c.livenessProbe;
      if (Object.keys(cp).length > 0) probes.set(c.name, cp);
      delete c.startupProbe;
      delete c.readinessProbe;
      delete c.livenessProbe;
    }
    const podName = pod.metadata!.name!;
    const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
    this.probes.get(podName)?.close();
    this.podEvents.set(podName, []);
    this.probes.set(podName, new PodProbes(probes, this.log, {
      exec: (id, cmd, ms) => this.execCheck(id, cmd, ms),
      kill: (id, startedAt, signal) => this.killRun(id, startedAt, grace, signal),
      event: (container, type, reason, message) => this.recordEvent(podName, container, type, reason, message),
    }, this.helperSpawns));
    const tmp = await mkdtemp(join(tmpdir(), "rs-kube-"));
    const file = join(tmp, "pod.yaml");
    try {
      // JSON is YAML.
      await writeFile(file, JSON.stringify(pod) + "\n", { mode: 0o600 });
      await this.run(["kube", "play", "--network", this.network, file]);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * A Secret's values as 0400 files in its tmpfs directory (returned). `fresh`: a new
   * directory; otherwise the files of the existing one (bind-mounted into a running container)
   * are replaced one by one, each written under a temporary name and renamed.
   */
  private async writeSecret(s: V1Secret, fresh: boolean): Promise<string> {
    const dir = join(this.secretsRoot, s.metadata!.name!);
    if (fresh) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
    // File mounts (role "files") are readable by any user of the container, as their Secret volume's defaultMode says.
    const mode = s.metadata?.labels?.[KUBE_LABEL.role] === "files" ? 0o444 : 0o400;
    for (const [k, v] of Object.entries(s.stringData ?? {})) {
      const tmp = join(dir, `.${k}.tmp`);
      await writeFile(tmp, v, { mode });
      await chmod(tmp, mode);
      await rename(tmp, join(dir, k));
    }
    return dir;
  }

  async updateSecret(s: V1Secret): Promise<void> {
    if (!existsSync(join(this.secretsRoot, s.metadata!.name!))) throw new PodmanError(`secret ${s.metadata!.name} does not exist`);
    await this.writeSecret(s, false);
  }

  /** `podman container restart`: the container's stop signal, the grace period, SIGKILL, then a new run. */
  async restartContainer(_ns: string, pod: string, container: string, graceSeconds: number): Promise<void> {
    await this.run(["container", "restart", "-t", String(graceSeconds), `${pod}-${container}`]);
  }

  /**
   * `podman container stop -t 0`: SIGKILL at once, and stopped by the user, so the restart
   * policy leaves it stopped (a plain `podman kill` would be restarted by it). podman 4.3 lets
   * a stop overtake one already in its grace period (the container is "stopping"; the lock is
   * not held while it waits), so this also ends a `pod stop -t N` in flight for these containers.
   */
  async kill(_ns: string, pod: string, containers: string[]): Promise<void> {
    if (containers.length === 0) return;
    await this.run(["container", "stop", "-t", "0", ...containers.map((c) => `${pod}-${c}`)], [0, 125]);
  }

  /** `podman container stop`: stopped by the user, so the restart policy leaves it stopped. */
  async stopContainer(_ns: string, pod: string, container: string, graceSeconds: number): Promise<void> {
    await this.run(["container", "stop", "-t", String(graceSeconds), `${pod}-${container}`]);
  }

  async read(_ns: string, pod: string): Promise<PodObservation | null> {
    const p = await this.run(["pod", "inspect", pod], [0, 125]);
    if (p.code !== 0) return null;
    const info = JSON.parse(p.stdout) as { State: string; InfraContainerID?: string; Containers?: { Id: string }[] };
    const ids = (info.Containers ?? []).map((c) => c.Id);
    if (ids.length === 0) return { phase: "Pending", containers: [] };
    const c = await this.run(["container", "inspect", ...ids], [0, 125]);
    const all = JSON.parse(c.stdout || "[]") as InspectedContainer[];
    const probes = this.probes.get(pod);
    const infraPid = all.find((x) => x.Id === info.InfraContainerID)?.State.Pid;
    if (probes !== undefined && infraPid !== undefined && infraPid > 0) probes.setNetns(`/proc/${infraPid}/ns/net`);
    const list = all.filter((x) => x.Id !== info.InfraContainerID);
    const now = Date.now();
    const containers: ContainerObservation[] = list.map((x) => {
      const st = x.State;
      const name = x.Name.startsWith(`${pod}-`) ? x.Name.slice(pod.length + 1) : x.Name;
      const state: ContainerObservation["state"] = st.Status === "running"
        ? { kind: "running", startedAt: ms(st.StartedAt) }
        : st.Status === "exited" || st.Status === "stopped"
          ? { kind: "terminated", exitCode: st.ExitCode, reason: st.OOMKilled ? "OOMKilled" : st.ExitCode === 0 ? "Completed" : "Error", startedAt: ms(st.StartedAt), finishedAt: ms(st.FinishedAt) }
          : { kind: "waiting", reason: "ContainerCreating", message: st.Status };
      const ready = state.kind === "running" && (probes?.ready(name, x.Id, state.startedAt, now) ?? true);
      return { name, id: x.Id, state, ready, restartCount: x.RestartCount ?? 0, last: null };
    });
    return { phase: info.State, containers };
  }

  /** The probe events this backend recorded for the Pod (podman keeps no Kubernetes Events). */
  async events(_ns: string, pod: string): Promise<PodEvent[]> {
    return (this.podEvents.get(pod) ?? []).map((e) => ({ ...e }));
  }

  /** Kubernetes-style: the same container, reason and message again only counts up (at most 100 kept per Pod). */
  private recordEvent(pod: string, container: string, type: "Normal" | "Warning", reason: string, message: string): void {
    const list = this.podEvents.get(pod);
    if (list === undefined) return;
    const now = Date.now();
    const same = list.find((e) => e.container === container && e.reason === reason && e.message === message);
    if (same !== undefined) {
      same.count++;
      same.lastTimestamp = now;
      return;
    }
    list.push({ container, type, reason, message, count: 1, firstTimestamp: now, lastTimestamp: now });
    if (list.length > 100) list.shift();
  }

  /**
   * Kills one run of a container as the kubelet does after a failed liveness or startup probe:
   * SIGTERM (the launcher forwards it to the command's process group), the Pod's grace
   * period, then SIGKILL. `podman kill`, not `podman stop`: a stopped container counts as
   * stopped by the user and is not restarted; a killed one is, per the restart policy.
   */
  private async killRun(containerId: string, startedAt: number, graceSeconds: number, signal: AbortSignal): Promise<void> {
    const sameRun = async () => {
      // The Pod is being stopped (the probes closed): the stop owns the container now.
      if (signal.aborted) return false;
      const r = await this.run(["container", "inspect", containerId], [0, 125]);
      if (r.code !== 0) return false;
      const [c] = JSON.parse(r.stdout || "[]") as InspectedContainer[];
      return c !== undefined && c.State.Status === "running" && ms(c.State.StartedAt) === startedAt;
    };
    // A check that raced a restart must not kill the new run.
    if (!(await sameRun())) return;
    await this.run(["kill", "--signal", "TERM", containerId], [0, 125]);
    const deadline = Date.now() + graceSeconds * 1000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      if (!(await sameRun())) return;
    }
    await this.run(["kill", "--signal", "KILL", containerId], [0, 125]);
  }

  /** An image's ENTRYPOINT and CMD from podman's store; throws when podman does not have it. */
  async imageConfig(image: string): Promise<ImageConfig> {
    const r = await this.run(["image", "inspect", image], [0, 125]);
    if (r.code !== 0) throw new PodmanError(`image ${image} is not in podman's store (no registry is used): load it with \`docker save ${image} | podman load\``);
    const [img] = JSON.parse(r.stdout) as { Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } }[];
    return { entrypoint: img?.Config?.Entrypoint ?? [], cmd: img?.Config?.Cmd ?? [] };
  }

  /**
   * Drops the init container that copies the launcher into its emptyDir (podman 4.3 restarts
   * init containers with the Pod's policy) and mounts a host directory holding the same
   * launcher binary (compiled here from the same source) in place of that emptyDir.
   */
  private async replaceLauncherInit(pod: V1Pod): Promise<void> {
    const spec = pod.spec;
    if (spec === undefined) return;
    const vol = spec.volumes?.find((v) => v.name === LAUNCHER_VOLUME);
    spec.initContainers = spec.initContainers?.filter((c) => c.name !== LAUNCHER_CONTAINER);
    if (spec.initContainers?.length === 0) delete spec.initContainers;
    if (vol === undefined) return;
    const bin = await ensureEnvexec();
    if (bin === null) throw new PodmanError("the envexec launcher could not be compiled: install a C compiler (apt-get install gcc libc6-dev)");
    // <dir of the binary>/pod-<its hash>/envexec: a directory holding just the launcher, under its mounted name.
    const dir = join(dirname(bin), `pod-${basename(bin)}`);
    const target = join(dir, basename(ENVEXEC_MOUNT));
    if (!existsSync(target)) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      const tmp = `${target}.${process.pid}.tmp`;
      await copyFile(bin, tmp);
      await chmod(tmp, 0o555);
      await rename(tmp, target);
    }
    delete vol.emptyDir;
    vol.hostPath = { path: dir, type: "Directory" };
  }

  followLogs(_ns: string, _pod: string, _container: string, containerId: string, sinceMs: number | null,
    onChunk: (stream: "stdout" | "stderr", chunk: Uint8Array) => void, onEnd: () => void): () => void {
    const args = ["logs", "-f", ...(sinceMs !== null ? ["--since", new Date(sinceMs).toISOString()] : []), containerId];
    const child = spawn(this.bin, args, { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (c: Buffer) => onChunk("stdout", c));
    child.stderr.on("data", (c: Buffer) => onChunk("stderr", c));
    const stop = () => {
      this.followers.delete(stop);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    };
    child.on("close", () => {
      this.followers.delete(stop);
      onEnd();
    });
    child.on("error", () => {});
    this.followers.add(stop);
    return stop;
  }

  async stop(_ns: string, pod: string, graceSeconds: number): Promise<void> {
    // No probe may kill (and so restart) a container while the Pod is being stopped.
    this.probes.get(pod)?.close();
    // `pod stop -t` sends each container its stop signal, waits, then SIGKILLs, like a Pod deletion.
    await this.run(["pod", "stop", "-t", String(graceSeconds), pod], [0, 125]);
  }

  async remove(_ns: string, pod: string): Promise<void> {
    this.probes.get(pod)?.close();
    this.probes.delete(pod);
    this.podEvents.delete(pod);
    // 125 is podman's code for "no such pod" and for any other failure (a container caught
    // restarting by its policy): check that the Pod is gone, and try again while it is not.
    let last = "";
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await this.run(["pod", "rm", "-f", pod], [0, 125]).catch((err: Error) => ({ stdout: err.message, code: -1 }));
      if ((await this.run(["pod", "exists", pod], [0, 1])).code === 1) return;
      last = r.stdout.trim();
      await new Promise((res) => setTimeout(res, 300 * (attempt + 1)));
    }
    throw new PodmanError(`podman pod rm -f ${pod} left the Pod in place${last ? `: ${last}` : ""}`);
  }

  /**
   * An exec probe check: `podman exec` with a timeout. Killing the `podman exec` client does
   * not end the exec session in podman 4.3 (conmon keeps it), so on timeout the command's own
   * processes in the container are killed, and the check returns only once the client has
   * seen the session end (bounded: EXEC_KILL_WAIT_MS) — probes never pile up in a container.
   */
  private execCheck(containerId: string, command: string[], timeoutMs: number): Promise<{ ok: boolean; error?: string }> {
    return new Promise((resolve) => {
      const child = spawn(this.bin, ["exec", containerId, ...command], { env: this.env, stdio: "ignore" });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        void this.killExecSession(containerId, command, child);
      }, timeoutMs);
      child.on("error", (err) => (clearTimeout(timer), resolve({ ok: false, error: err.message })));
      child.on("close", (code) => {
        clearTimeout(timer);
        if (timedOut) resolve({ ok: false, error: `timed out after ${formatSeconds(timeoutMs)}` });
        else resolve(code === 0 ? { ok: true } : { ok: false, error: `command exited with ${code}` });
      });
    });
  }

  /** Kills a timed-out probe command inside the container until its `podman exec` client ends (see execCheck). */
  private async killExecSession(containerId: string, command: string[], client: ReturnType<typeof spawn>): Promise<void> {
    const ended = () => client.exitCode !== null || client.signalCode !== null;
    const r = await this.run(["container", "inspect", "--format", "{{.State.Pid}}", containerId], [0, 125]).catch(() => ({ stdout: "", code: -1 }));
    const mainPid = Number(r.stdout.trim());
    const deadline = Date.now() + EXEC_KILL_WAIT_MS;
    // The session's process may not exist yet (podman starts it after the client asked): keep looking until the client ends.
    while (!ended() && Date.now() < deadline) {
      if (mainPid > 0) for (const pid of processesRunning(command, mainPid)) killTree(pid, "SIGKILL");
      await new Promise((res) => setTimeout(res, 20));
    }
    if (!ended()) {
      this.log.warn({ container: containerId }, "a timed-out probe command did not end within the wait; the next check goes ahead");
      client.kill("SIGKILL");
    }
  }

  async deleteSecrets(_ns: string, names: string[]): Promise<void> {
    for (const n of names) await rm(join(this.secretsRoot, n), { recursive: true, force: true });
  }

  async listOwned(_ns: string, ownerLabel: string, namePrefix: string, roomLabel?: string): Promise<{ pods: string[]; secrets: string[] }> {
    const all = JSON.parse((await this.run(["pod", "ps", "--filter", `label=${KUBE_LABEL.owner}=${ownerLabel}`, "--format", "json"])).stdout || "[]") as { Name: string; Labels?: Record<string, string> | null }[];
    const pods = roomLabel === undefined ? all : all.filter((p) => p.Labels?.[KUBE_LABEL.room] === roomLabel);
    // Secrets here are directories named after the session (no labels): those of the Pods' sessions.
    const prefixes = roomLabel === undefined ? [namePrefix] : pods.map((p) => p.Name.replace(/g\d+$/, ""));
    const secrets = await readdir(this.secretsRoot).catch(() => [] as string[]);
    return { pods: pods.map((p) => p.Name), secrets: secrets.filter((n) => prefixes.some((x) => n.startsWith(x))) };
  }

  close(): void {
    for (const stop of [...this.followers]) stop();
    for (const r of this.probes.values()) r.close();
    this.probes.clear();
  }
}
