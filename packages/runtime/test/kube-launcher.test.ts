/**
 * The launcher path a cluster takes, on Docker: podman 4.3 cannot run the Pod's init container
 * (it restarts init containers with the Pod's restartPolicy), so its backend mounts the
 * launcher itself; this test runs what the manifest says a cluster runs — the init container
 * from the gateway image filling the launcher volume, then a service container whose command,
 * args, env and mounts are copied from the built Pod spec — and checks that the service gets
 * its session values from the Secret's files and that none of them is in the container's config.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildGatewayImage, buildPodManifests, dockerImageConfig, GATEWAY_IMAGE, LAUNCHER_CONTAINER, LAUNCHER_VOLUME } from "../src/index.ts";
import { APP_IMAGE, setup, spec, type TestEnv } from "./helpers.ts";

const run = promisify(execFile);
let env: TestEnv;
let dir: string;
const names: string[] = [];

before(async () => {
  env = await setup();
  await buildGatewayImage(env.runtime.docker);
  dir = await mkdtemp(join(tmpdir(), "rs-kube-launcher-"));
});
after(async () => {
  for (const n of names) await run("docker", ["rm", "-f", n]).catch(() => {});
  await rm(dir, { recursive: true, force: true });
  await env.cleanup();
});

test("the manifest's init container installs the launcher; the service container it wraps exports the Secret's files and the config holds none of them", async () => {
  const token = `tok-${randomBytes(10).toString("hex")}`;
  const config = await dockerImageConfig(env.runtime.docker)(APP_IMAGE);
  assert.deepEqual(config, { entrypoint: [], cmd: ["/usr/local/bin/node", "/app/http.js"] });
  assert.equal(await dockerImageConfig(env.runtime.docker)("roomservice-test/no-such-image:1"), null);
  const m = buildPodManifests({
    namespace: "default", ownerId: env.ownerId, room: "launcher-room", sessionId: "s1", generation: 1,
    specs: [spec("agent", "env.js", { env: { MESHAGENT_TOKEN: token, SHOW: "MESHAGENT_TOKEN,API_KEY" }, sessionEnv: ["MESHAGENT_TOKEN"], secretFiles: { API_KEY: "sk-abcdef" }, secretEnv: ["API_KEY"] })],
    gateway: { image: GATEWAY_IMAGE, target: { kind: "tcp", host: "127.0.0.1", port: 1 }, key: "k" },
    imageConfigs: { [APP_IMAGE]: config! },
  });
  const launcherDir = join(dir, "launcher");
  const secretsDir = join(dir, "secrets");
  await run("mkdir", ["-p", launcherDir, secretsDir]);
  // The emptyDir and the Secret volume, as the kubelet would provide them.
  const secret = m.secrets.find((s) => s.metadata!.name!.endsWith("-agent"))!;
  for (const [k, v] of Object.entries(secret.stringData!)) await writeFile(join(secretsDir, k), v, { mode: 0o400 });
  await chmod(secretsDir, 0o500);
  const volumes: Record<string, string> = { [LAUNCHER_VOLUME]: launcherDir };
  for (const v of m.pod.spec!.volumes!) if (v.secret?.secretName === secret.metadata!.name) volumes[v.name] = secretsDir;

  const init = m.pod.spec!.initContainers!.find((c) => c.name === LAUNCHER_CONTAINER)!;
  const initName = `rs-test-init-${randomBytes(4).toString("hex")}`;
  names.push(initName);
  await run("docker", ["run", "--name", initName, "--read-only", ...init.volumeMounts!.flatMap((vm) => ["-v", `${volumes[vm.name]}:${vm.mountPath}`]),
    "--entrypoint", init.command![0]!, init.image!, ...init.command!.slice(1)]);

  const c = m.pod.spec!.containers.find((x) => x.name === "agent")!;
  const svcName = `rs-test-svc-${randomBytes(4).toString("hex")}`;
  names.push(svcName);
  await run("docker", ["run", "-d", "--name", svcName, "--read-only",
    ...c.volumeMounts!.flatMap((vm) => ["-v", `${volumes[vm.name]}:${vm.mountPath}${vm.readOnly ? ":ro" : ""}`]),
    ...c.env!.flatMap((e) => ["-e", `${e.name}=${e.value}`]),
    "--entrypoint", c.command![0]!, c.image!, ...c.args!]);
  let logs = "";
  for (let i = 0; i < 100 && !logs.includes("ENV "); i++) {
    logs = (await run("docker", ["logs", svcName])).stdout;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(logs.trim(), `ENV ${JSON.stringify({ MESHAGENT_TOKEN: token, API_KEY: "sk-abcdef" })}`);
  const inspect = (await run("docker", ["inspect", svcName])).stdout;
  assert.ok(inspect.includes("ROOMSERVICE_SECRET_ENV"), "the inspect output holds the container's env");
  assert.ok(!inspect.includes(token) && !inspect.includes("sk-abcdef"), "no session value or secret in docker inspect");
  // PID 1 is the launcher; the command runs as its child in its own process group.
  const top = (await run("docker", ["top", svcName, "-o", "pid,pgid,args"])).stdout;
  assert.match(top, /envexec/);
  assert.match(top, /node \/app\/env\.js/);
});
