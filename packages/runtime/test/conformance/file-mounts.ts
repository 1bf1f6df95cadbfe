/**
 * The file-mount and empty-dir part of the conformance suite (suite.ts): what a service sees
 * of `fileMounts` and `emptyDirs` in its first run and, after it crashed and was restarted
 * by its restart policy, in its second. The script runs inline (`node -e`), so the test
 * image is not changed.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { defaultSecretsRoot, ownerPrefix, safeName, type RoomSandbox } from "../../src/index.ts";
import { collectLogs, NODE, waitFor } from "../helpers.ts";
import type { Harness } from "./harness.ts";

/**
 * Reads every mount, then tries to change each; prints FILES <json>; then asks the Room API
 * (the test's server at 127.0.0.1:8078, reachable in every runtime, a cluster's Pods too)
 * whether to crash, and exits 3 when told to, to be restarted by its restart policy.
 */
const SCRIPT = `
const fs = require("fs");
const e = process.env;
const tryDo = (f) => { try { f(); return "ok"; } catch (err) { return err.code || String(err); } };
const read = (p) => { try { return fs.readFileSync(p, "utf8"); } catch (err) { return "ERR " + err.code; } };
const s = {
  ro: read(e.RO), roMode: (fs.statSync(e.RO).mode & 0o777).toString(8), rw: read(e.RW), inner: read(e.INNER),
  dir: fs.readdirSync(e.DIR).sort(), roDir: fs.readdirSync(e.RO_DIR),
};
s.roWrite = tryDo(() => fs.writeFileSync(e.RO, "changed"));
s.rwWrite = tryDo(() => fs.appendFileSync(e.RW, "+changed"));
s.dirWrite = tryDo(() => fs.writeFileSync(e.DIR + "/left-over", "x"));
s.roDirWrite = tryDo(() => fs.writeFileSync(e.RO_DIR + "/x", "x"));
console.log("FILES " + JSON.stringify(s));
const ask = () => fetch("http://127.0.0.1:8078/crash").then((r) => r.text()).then((t) => (t === "yes" ? process.exit(3) : t === "no" ? undefined : setTimeout(ask, 100)), () => setTimeout(ask, 100));
ask();
setInterval(() => {}, 1 << 30);
process.on("SIGTERM", () => process.exit(0));
`.trim(); // podman 4.3's kube play cannot read back a multi-line string whose first line starts blank

export const FILE_TEXT = { ro: "read-only: ünïcode ✓\nline 2\n", rw: '{"counter": 1}', inner: "inside the scratch dir" };

const PATHS = { RO: "/rs-conf/etc/app.conf", RW: "/rs-conf/state.json", DIR: "/rs-conf/scratch", INNER: "/rs-conf/scratch/inner.txt", RO_DIR: "/rs-conf/ro-scratch" };

export async function fileMountsConformance(h: Harness, sb: RoomSandbox, waitMs: number): Promise<void> {
  // "wait" until the test has the first run's line (so no engine can lose it), then "yes"
  // once — that run crashes — then "no": the second run stays up.
  let crash: "wait" | "yes" | "no" = "wait";
  const app = http.createServer((req, res) => {
    const answer = req.url === "/crash" ? crash : "no";
    if (answer === "yes") crash = "no";
    res.end(answer);
  });
  const api = await h.runtime.openRoomApi(sb, (sock) => app.emit("connection", sock));
  try {
    const node = h.kind === "sandbox" ? process.execPath : NODE;
    const svc = sb.startService(h.spec("files", "env.js", {
      command: [node, "-e", SCRIPT],
      env: { ...PATHS },
      fileMounts: [
        { containerPath: PATHS.RO, text: FILE_TEXT.ro, readOnly: true },
        { containerPath: PATHS.RW, text: FILE_TEXT.rw, readOnly: false },
        { containerPath: PATHS.INNER, text: FILE_TEXT.inner, readOnly: true },
      ],
      emptyDirs: [{ containerPath: PATHS.DIR, readOnly: false }, { containerPath: PATHS.RO_DIR, readOnly: true }],
      restart: { policy: "on-failure", initialBackoffMs: 100, maxBackoffMs: 1000, resetAfterMs: 60_000 },
    }));
    const lines = collectLogs(svc);
    await waitFor("the first run's line", () => lines.some((l) => l.line.startsWith("FILES ")), waitMs);
    crash = "yes";
    const runs = await waitFor("two runs", () => {
      const found = lines.filter((l) => l.line.startsWith("FILES ")).map((l) => JSON.parse(l.line.slice(6)) as Record<string, unknown>);
      return found.length >= 2 ? found : null;
    }, waitMs);
    const [first, second] = runs as [Record<string, unknown>, Record<string, unknown>];
    const common = {
      ro: FILE_TEXT.ro, roMode: "444", inner: FILE_TEXT.inner, roDir: [],
      roWrite: "EROFS", rwWrite: "ok", dirWrite: "ok", roDirWrite: "EROFS",
    };
    assert.deepEqual(first, { ...common, rw: FILE_TEXT.rw, dir: ["inner.txt"] }, "first run");
    if (h.caps.emptyDirsSurviveRestart === true) {
      // A Kubernetes emptyDir (and a writable file copied into one) lives as long as its Pod.
      assert.deepEqual(second, { ...common, rw: `${FILE_TEXT.rw}+changed`, dir: ["inner.txt", "left-over"] }, "second run, same Pod");
    } else {
      assert.deepEqual(second, { ...common, rw: FILE_TEXT.rw, dir: ["inner.txt"] }, "second run: a new container starts from the manifest's text");
    }
    await waitFor("running after its restart", () => svc.status().state === "running", waitMs);
  } finally {
    api.close();
    app.close();
    await sb.stop();
  }
}

/** The text of the crashed run's file mounts (fixtures/crashed-run.ts). */
export const LEFT_FILE_TEXT = "left-behind-file-mount-text";

/**
 * Host files of `ownerId`'s runtimes holding `text`: under the secrets root, its own dir
 * (docker, sandbox: <root>/<owner>/<session>/.files/…) and its Pods' Secret dirs (podman).
 */
export function leftFileMounts(ownerId: string, text: string): string[] {
  const root = defaultSecretsRoot();
  const dirs = [join(root, safeName(ownerId)), ...(existsSync(join(root, "pods")) ? readdirSync(join(root, "pods")).filter((n) => n.startsWith(ownerPrefix(ownerId))).map((n) => join(root, "pods", n)) : [])];
  const found: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const p = join(e.parentPath, e.name);
      if (readFileSync(p, "utf8").includes(text)) found.push(p);
    }
  }
  return found;
}
