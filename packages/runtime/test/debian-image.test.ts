import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDebianImage, debianRecipeHash, debianRecipeTag, hostDebianMirror, hostDebianSuite, DebianImageError, DockerEngine } from "../src/index.ts";

test("the host's Debian mirror and release are read from apt's sources and os-release", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "rs-apt-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, "sources.list.d"));
  await writeFile(join(dir, "sources.list.d/debian.sources"), "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n");
  assert.equal(hostDebianMirror(dir), "http://mirror.example/debian", "deb822: the first non-security archive, without a trailing slash");
  await rm(join(dir, "sources.list.d/debian.sources"));
  await writeFile(join(dir, "sources.list"), "# comment\ndeb [arch=amd64] http://old.example/debian bookworm main\n");
  assert.equal(hostDebianMirror(dir), "http://old.example/debian", "one-line format");
  await rm(join(dir, "sources.list"));
  assert.equal(hostDebianMirror(dir), null);
  await writeFile(join(dir, "os-release"), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n');
  assert.equal(hostDebianSuite(join(dir, "os-release")), "bookworm");
  assert.equal(hostDebianSuite(join(dir, "missing")), null);
});

test("the recipe hash ignores package order and duplicates, and changes with anything that changes the image", () => {
  const base = { suite: "bookworm", packages: ["espeak-ng", "pocketsphinx"], node: true };
  const h = debianRecipeHash(base, "v24.0.0", "x64");
  assert.equal(debianRecipeHash({ ...base, packages: ["pocketsphinx", "espeak-ng", "espeak-ng"] }, "v24.0.0", "x64"), h);
  for (const other of [
    debianRecipeHash({ ...base, packages: ["espeak-ng"] }, "v24.0.0", "x64"),
    debianRecipeHash({ ...base, suite: "trixie" }, "v24.0.0", "x64"),
    debianRecipeHash(base, "v24.1.0", "x64"),
    debianRecipeHash(base, "v24.0.0", "arm64"),
    debianRecipeHash({ ...base, node: false }, "v24.0.0", "x64"),
  ]) assert.notEqual(other, h);
  assert.match(debianRecipeTag(h), /^roomservice\/debian-recipe:[0-9a-f]{16}$/);
});

test("bad recipes are refused before anything runs, naming the field", async () => {
  const docker = new DockerEngine("/nonexistent.sock"); // never reached
  await assert.rejects(buildDebianImage(docker, { tag: "x:1", packages: ["espeak-ng", "Bad Name"] }), (e: Error) =>
    e instanceof DebianImageError && e.code === "prerequisite" && /packages\[1\]: "Bad Name" is not a Debian package name/.test(e.message));
  await assert.rejects(buildDebianImage(docker, { tag: "x:1", suite: "bookworm; rm -rf /" }), /suite: expected a Debian codename/);
});
