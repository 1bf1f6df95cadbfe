/**
 * ROOMSERVICE_RUNTIME=kubernetes from the environment (no cluster is contacted to build the
 * runtime): ROOMSERVICE_KUBE_IMAGE_CONFIG=docker gives the runtime a resolver that reads an
 * image's ENTRYPOINT/CMD from this machine's Docker (so services run under the launcher), and a
 * bad value is refused with the variable named. The resolver's DockerEngine is closed with the runtime.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { buildBaseImage, DockerEngine, type PodRuntime } from "@roomservice/runtime";
import { createPodRuntimeFromEnv } from "../src/services/pod-runtime-config.ts";

const log = pino({ level: "silent" });
const base = { ROOMSERVICE_KUBE_GATEWAY_IMAGE: "registry.example/roomservice/pod-gateway:3", ROOMSERVICE_KUBE_GATEWAY_ADDRESS: "127.0.0.1:0", KUBECONFIG: "/nonexistent" };

test("ROOMSERVICE_KUBE_IMAGE_CONFIG: docker reads images' configs from Docker; anything else but none is refused", async () => {
  await assert.rejects(createPodRuntimeFromEnv("kubernetes", "cfg-test", log, { ...base, ROOMSERVICE_KUBE_IMAGE_CONFIG: "registry" }),
    /ROOMSERVICE_KUBE_IMAGE_CONFIG must be "docker" or "none", got "registry"/);
  const none = (await createPodRuntimeFromEnv("kubernetes", "cfg-test", log, { ...base })) as PodRuntime;
  assert.equal(none.o.imageConfig, undefined, "default: no resolver (services run without the launcher, secretKeyRef env)");
  await none.close();
  const docker = new DockerEngine();
  try {
    await buildBaseImage(docker);
  } finally {
    docker.close();
  }
  const rt = (await createPodRuntimeFromEnv("kubernetes", "cfg-test", log, { ...base, ROOMSERVICE_KUBE_IMAGE_CONFIG: "docker" })) as PodRuntime;
  // The DockerEngine made for the resolver is the runtime's to close (its keep-alive sockets to dockerd).
  const engine = rt.o.releaseOnClose?.[0];
  assert.ok(engine instanceof DockerEngine, "the resolver's engine is closed with the runtime");
  let closed = 0;
  const close = engine.close.bind(engine);
  engine.close = () => {
    closed++;
    close();
  };
  try {
    assert.deepEqual(await rt.o.imageConfig!("roomservice/node:24"), { entrypoint: [], cmd: ["/usr/local/bin/node"] });
    assert.equal(await rt.o.imageConfig!("roomservice-test/not-built:1"), null);
  } finally {
    await rt.close();
  }
  assert.equal(closed, 1);
  assert.equal(none.o.releaseOnClose, undefined, "nothing to release without the resolver");
});
