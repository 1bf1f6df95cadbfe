/**
 * `container.storage.files`, `container.storage.empty_dirs` and the top-level `files`:
 * normalized for the runtimes, and refused where they would collide, hide what Roomservice
 * mounts, write into room storage, or carry too much text.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_FILE_TEXT_BYTES, normalizeManifest, parseManifest, validateManifestObject } from "../src/index.ts";
import { errorAt } from "./fixtures.ts";

const base = { version: "v1", kind: "Service", metadata: { name: "x" } };
const withStorage = (storage: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  validateManifestObject({ ...base, container: { image: "a", storage }, ...extra });

test("the three fields normalize: paths cleaned, read_only defaults (files true, empty dirs false), room file paths relative", () => {
  const r = parseManifest(`version: v1
kind: Service
metadata: { name: files }
container:
  image: a
  storage:
    files:
      - { path: /etc/app//config.yaml, text: "key: 1\\n" }
      - { path: /var/lib/app/state.json, text: "{}", read_only: false }
    empty_dirs:
      - { path: /scratch/ }
      - { path: /cache, read_only: true }
files:
  - { path: /notes/readme.md, text: "# hi" }
  - { path: todo.txt, text: "" }
`);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const n = normalizeManifest(r.manifest);
  assert.deepEqual(n.fileMounts, [
    { path: "/etc/app/config.yaml", text: "key: 1\n", readOnly: true },
    { path: "/var/lib/app/state.json", text: "{}", readOnly: false },
  ]);
  assert.deepEqual(n.emptyDirs, [{ path: "/scratch", readOnly: false }, { path: "/cache", readOnly: true }]);
  assert.deepEqual(n.roomFiles, [{ path: "notes/readme.md", text: "# hi" }, { path: "todo.txt", text: "" }]);
  // The agent template still mounts room storage at /data.
  assert.deepEqual(n.storageMounts.map((m) => m.path), ["/data"]);
  assert.deepEqual(r.warnings, [], "no field of these is ignored any more");
});

test("a file mount or empty dir inside a room storage mount is refused, the implicit /data included", () => {
  const e = errorAt(withStorage({ files: [{ path: "/data/config.json", text: "{}" }] }), "container.storage.files[0].path");
  assert.match(e.message, /inside the room storage mount at \/data \(container\.template: agent adds it\)/);
  assert.match(e.message, /top-level files:/);
  assert.equal(e.expected, "a path outside /data");
  assert.equal(e.received, '"/data/config.json"');
  const e2 = errorAt(withStorage({ room: [{ path: "/work" }], empty_dirs: [{ path: "/work/tmp" }] }), "container.storage.empty_dirs[0].path");
  assert.match(e2.message, /inside container\.storage\.room\[0\]/);
  // Without the agent template nothing is at /data; a room mount inside an empty dir is fine.
  const ok = validateManifestObject({ ...base, container: { image: "a", template: "none", storage: { files: [{ path: "/data/config.json", text: "{}" }], empty_dirs: [{ path: "/w" }], room: [{ path: "/w/room" }] } } });
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.errors));
});

test("mount paths that collide (after cleaning), nest inside a file, or hide what Roomservice and the kernel mount are refused", () => {
  const dup = withStorage({ files: [{ path: "/etc/a", text: "1" }], empty_dirs: [{ path: "/etc//a/" }] });
  assert.equal(errorAt(dup, "container.storage.empty_dirs[0].path").message, "is already mounted by container.storage.files[0]");
  const nested = withStorage({ files: [{ path: "/etc/a", text: "1" }, { path: "/etc/a/b", text: "2" }] });
  assert.equal(errorAt(nested, "container.storage.files[1].path").message, "is inside the file mounted by container.storage.files[0]");
  const hidden = withStorage({ files: [{ path: "/run/secrets/x", text: "1" }, { path: "/run/roomservice/envexec", text: "2" }, { path: "/proc/self/x", text: "3" }], empty_dirs: [{ path: "/dev/shm" }] });
  assert.match(errorAt(hidden, "container.storage.files[0].path").message, /hide the secret files/);
  assert.match(errorAt(hidden, "container.storage.files[1].path").message, /hide the launcher/);
  assert.match(errorAt(hidden, "container.storage.files[2].path").message, /inside \/proc/);
  assert.match(errorAt(hidden, "container.storage.empty_dirs[0].path").message, /inside \/dev/);
  const dirLike = withStorage({ files: [{ path: "/etc/app/", text: "1" }] });
  assert.equal(errorAt(dirLike, "container.storage.files[0].path").expected, 'a file path such as "/etc/app/config.yaml"');
  const control = withStorage({ files: [{ path: "/etc/a\nb", text: "1" }] });
  assert.equal(errorAt(control, "container.storage.files[0].path").message, "must not contain control characters");
  const inRo = withStorage({ empty_dirs: [{ path: "/cache", read_only: true }], files: [{ path: "/cache/x", text: "" }] });
  assert.match(errorAt(inRo, "container.storage.files[0].path").message, /inside the read-only empty dir container\.storage\.empty_dirs\[0\]/);
  // /tmp is allowed: an empty dir there replaces the runtime's own /tmp.
  assert.ok(withStorage({ empty_dirs: [{ path: "/tmp" }], files: [{ path: "/tmp/x", text: "" }] }).ok);
});

test("file text is bounded per manifest, file mounts and room files together; the error names the entry that crosses the bound", () => {
  const half = "x".repeat(MAX_FILE_TEXT_BYTES / 2);
  assert.ok(withStorage({ files: [{ path: "/a", text: half }] }, { files: [{ path: "b", text: half }] }).ok, "exactly the bound is fine");
  const r = withStorage({ files: [{ path: "/a", text: half }] }, { files: [{ path: "b", text: half }, { path: "c", text: "ü" }] });
  const e = errorAt(r, "files[1].text");
  assert.equal(e.expected, `at most ${MAX_FILE_TEXT_BYTES} bytes of text in container.storage.files[].text and files[].text together`);
  assert.equal(e.received, `${MAX_FILE_TEXT_BYTES + 2} bytes`, "UTF-8 bytes, not characters");
  const many = withStorage({ empty_dirs: Array.from({ length: 65 }, (_, i) => ({ path: `/d${i}` })) });
  assert.equal(errorAt(many, "container.storage.empty_dirs").expected, "at most 64");
});

test("room files: the same path twice (with or without the leading /) or one inside another is refused", () => {
  const r = validateManifestObject({ ...base, container: { image: "a" }, files: [{ path: "/a.txt", text: "1" }, { path: "a.txt", text: "2" }, { path: "a.txt/b", text: "3" }] });
  assert.equal(errorAt(r, "files[1].path").message, "duplicates files[0]");
  assert.match(errorAt(r, "files[2].path").message, /is inside files\[0\] \("\/a\.txt"\), which is a file/);
  const bad = validateManifestObject({ ...base, container: { image: "a" }, files: [{ path: "../escape", text: "" }] });
  assert.match(errorAt(bad, "files[0].path").message, /not a path inside room storage/);
  const long = validateManifestObject({ ...base, container: { image: "a" }, files: [{ path: `d/${"é".repeat(128)}`, text: "" }] });
  assert.equal(errorAt(long, "files[0].path").message, "has a name of 256 bytes");
});
