/**
 * File mounts and empty dirs in the Pod manifests (kube/manifest.ts, a pure function): a
 * Secret of the files per service, mounted file by file with subPath (read-only from the
 * Secret, writable from an emptyDir an init container fills), emptyDir volumes for empty
 * dirs, and podman's rewrite of the same Pod (kube/podman-files.ts). They run on podman in
 * conformance-podman.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPodManifests, KUBE_LABEL, type PodPlan, type ServiceLaunchSpec } from "../src/index.ts";
import { COPY_FILES_JS, FILES_CONTAINER } from "../src/kube/manifest.ts";
import { playFileMounts } from "../src/kube/podman-files.ts";
import { EMPTY_DIR_SIZE_BYTES } from "../src/file-mounts.ts";
import { spec } from "./helpers.ts";

function plan(specs: ServiceLaunchSpec[]): PodPlan {
  return {
    namespace: "rooms", ownerId: "rs-owner1", room: "files-room", sessionId: "s1", generation: 1, specs,
    gateway: { image: "registry.example/roomservice/pod-gateway:1", target: { kind: "tcp", host: "10.0.0.5", port: 7443 }, key: "k3y" },
  };
}

const withFiles = (id: string) => spec(id, "http.js", {
  fileMounts: [
    { containerPath: "/etc/app/a.conf", text: "A", readOnly: true },
    { containerPath: "/var/lib/app/state.json", text: "{}", readOnly: false },
  ],
  emptyDirs: [{ containerPath: "/scratch", readOnly: false }, { containerPath: "/cache", readOnly: true }],
});

test("file mounts: one Secret of the files per service (0444), each file mounted with subPath; writable ones from an emptyDir the init container fills", () => {
  const m = buildPodManifests(plan([{ ...withFiles("web"), secretFiles: { API_KEY: "k" } }]));
  const files = m.secrets.find((s) => s.metadata?.labels?.[KUBE_LABEL.role] === "files");
  assert.ok(files, JSON.stringify(m.secrets.map((s) => s.metadata)));
  assert.equal(files.metadata!.name, `${m.pod.metadata!.name}-web.files`);
  assert.deepEqual(files.stringData, { f0: "A", f1: "{}" });
  const vols = Object.fromEntries(m.pod.spec!.volumes!.map((v) => [v.name, v]));
  assert.deepEqual(vols["files-web"]!.secret, { secretName: files.metadata!.name, defaultMode: 0o444, optional: false });
  assert.deepEqual(vols["rwfiles-web"]!.emptyDir, { sizeLimit: String(EMPTY_DIR_SIZE_BYTES) });
  const web = m.pod.spec!.containers.find((c) => c.name === "web")!;
  const mounts = web.volumeMounts!.filter((x) => x.name.includes("files") || x.name.startsWith("empty"));
  // Parents before children: sorted by depth.
  assert.deepEqual(mounts, [
    { name: "empty-web-0", mountPath: "/scratch", readOnly: false },
    { name: "empty-web-1", mountPath: "/cache", readOnly: true },
    { name: "files-web", mountPath: "/etc/app/a.conf", subPath: "f0", readOnly: true },
    { name: "rwfiles-web", mountPath: "/var/lib/app/state.json", subPath: "f1" },
  ]);
  assert.deepEqual(vols["empty-web-0"]!.emptyDir, { sizeLimit: String(EMPTY_DIR_SIZE_BYTES) });
  const init = m.pod.spec!.initContainers!.find((c) => c.name === FILES_CONTAINER)!;
  assert.deepEqual(init.command, ["/usr/local/bin/node", "-e", COPY_FILES_JS, "/rs-files/web/f1=/rs-rw/web/f1"], "only the writable file is copied");
  assert.deepEqual(init.volumeMounts, [{ name: "files-web", mountPath: "/rs-files/web", readOnly: true }, { name: "rwfiles-web", mountPath: "/rs-rw/web" }]);
  assert.equal(init.image, "registry.example/roomservice/pod-gateway:1");
  // The service's own Secret stays the first Secret volume it mounts (an in-place restart rewrites that one).
  assert.equal(m.pod.spec!.volumes!.find((v) => v.secret !== undefined && web.volumeMounts!.some((x) => x.name === v.name))?.name, "secrets-web");
});

test("without writable files there is no init container, and without files no files Secret; a service named like the init container is refused", () => {
  const ro = buildPodManifests(plan([spec("web", "http.js", { fileMounts: [{ containerPath: "/a", text: "x", readOnly: true }] })]));
  assert.equal(ro.pod.spec!.initContainers, undefined);
  const none = buildPodManifests(plan([spec("web", "http.js")]));
  assert.ok(!none.secrets.some((s) => s.metadata?.labels?.[KUBE_LABEL.role] === "files"));
  assert.throws(() => buildPodManifests(plan([spec(FILES_CONTAINER, "http.js")])), /already used in this Pod/);
});

test("the init container's program copies src=dst pairs and makes the copies writable by any user", () => {
  const dir = mkdtempSync(join(tmpdir(), "rs-copy-"));
  try {
    writeFileSync(join(dir, "f1"), "text with = sign", { mode: 0o444 });
    execFileSync(process.execPath, ["-e", COPY_FILES_JS, `${join(dir, "f1")}=${join(dir, "out")}`]);
    assert.equal(readFileSync(join(dir, "out"), "utf8"), "text with = sign");
    assert.equal(statSync(join(dir, "out")).mode & 0o777, 0o666);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("podman: the init container's copies are made into the Secret's directory, and subPath mounts become hostPath mounts of the files", async () => {
  const m = buildPodManifests(plan([withFiles("web")]));
  const pod = structuredClone(m.pod);
  const dir = mkdtempSync(join(tmpdir(), "rs-podfiles-"));
  try {
    // What podman-api.ts does first: the Secret's values as files, its volume a hostPath.
    writeFileSync(join(dir, "f0"), "A");
    writeFileSync(join(dir, "f1"), "{}");
    const vol = pod.spec!.volumes!.find((v) => v.name === "files-web")!;
    delete vol.secret;
    vol.hostPath = { path: dir, type: "Directory" };
    await playFileMounts(pod, (msg) => new Error(msg));
    assert.ok(!pod.spec!.initContainers?.some((c) => c.name === FILES_CONTAINER));
    assert.equal(readFileSync(join(dir, "rw", "f1"), "utf8"), "{}");
    assert.equal(statSync(join(dir, "rw", "f1")).mode & 0o777, 0o666);
    const web = pod.spec!.containers.find((c) => c.name === "web")!;
    const byPath = Object.fromEntries(web.volumeMounts!.map((x) => [x.mountPath, x]));
    assert.equal(byPath["/etc/app/a.conf"]!.subPath, undefined);
    const vols = Object.fromEntries(pod.spec!.volumes!.map((v) => [v.name, v]));
    assert.deepEqual(vols[byPath["/etc/app/a.conf"]!.name]!.hostPath, { path: join(dir, "f0"), type: "File" });
    assert.equal(byPath["/etc/app/a.conf"]!.readOnly, true);
    assert.deepEqual(vols[byPath["/var/lib/app/state.json"]!.name]!.hostPath, { path: join(dir, "rw", "f1"), type: "File" });
    assert.ok(vols["empty-web-0"]!.emptyDir, "empty dirs stay emptyDirs");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
