/**
 * An existing demo install after a release improved the examples' manifests: every demo
 * service the operator has not edited is updated to the current manifest (a new revision), an
 * edited one is left alone, an operator's own service of a demo name is never touched, and the
 * log says which were which. Markers of earlier releases (name → id only) upgrade services
 * still at revision 1 with the demo's image.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startTestServer } from "./helpers.ts";
import { DEMO_EXAMPLES, DEMO_STATE, InstallationState, REPO_ROOT, setUpDemo, demoManifest } from "../src/index.ts";

/** A copy of the examples' manifests, so the test can play "the next release improved them". */
async function exampleRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "rs-demo-root-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  for (const e of DEMO_EXAMPLES) await cp(join(REPO_ROOT, "examples", e, "meshagent.yaml"), join(root, "examples", e, "meshagent.yaml"));
  return root;
}

/** "The next release": the example's first probe checks twice as often before its first success. */
async function improve(root: string, example: string): Promise<void> {
  const file = join(root, "examples", example, "meshagent.yaml");
  const text = await readFile(file, "utf8");
  const m = /startIntervalSeconds: ([0-9.]+)/.exec(text);
  assert.ok(m !== null, `${example}'s manifest has a probe with a start interval`);
  await writeFile(file, text.replace(m[0], `startIntervalSeconds: ${Number(m[1]) / 2}`));
}

function capture() {
  const lines: { msg: string; [k: string]: unknown }[] = [];
  return { lines, logger: pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) }) };
}

test("a demo upgrade updates the services the operator did not edit, leaves edited ones, and logs which", async (t) => {
  const ts = await startTestServer({});
  t.after(() => ts.close());
  const root = await exampleRoot(t);
  const deps = (logger = pino({ level: "silent" })) => ({
    dataDir: ts.dataDir, store: ts.server.ctx.store, projectId: "default", services: ts.server.services, secrets: ts.server.secrets,
    logger, imageFor: (e: string) => `roomservice-demo/${e}:latest`, root,
  });
  const first = await setUpDemo(deps());
  assert.equal(first.created.length, 5);
  const byName = async (n: string) => (await ts.server.services.findByName("default", "demo", n))!;

  // Nothing changed: nothing to update, no new revision.
  const same = await setUpDemo(deps());
  assert.deepEqual([same.updated, same.edited], [[], []]);
  assert.equal((await byName("chat-agent")).version, 1);

  // The operator edits pipeline; the next release improves chat-agent and pipeline.
  const pipeline = await byName("pipeline");
  const edited = { ...pipeline.spec, metadata: { ...(pipeline.spec.metadata as object), description: "mine now" } };
  await ts.server.services.update(pipeline.id, "pipeline", edited, Date.now());
  await improve(root, "chat-agent");
  await improve(root, "pipeline");

  const log = capture();
  const up = await setUpDemo(deps(log.logger));
  assert.deepEqual(up.updated, ["chat-agent"]);
  assert.deepEqual(up.edited, ["pipeline"]);
  assert.deepEqual(up.created, []);
  const chat = await byName("chat-agent");
  assert.equal(chat.version, 2);
  assert.deepEqual(chat.spec, demoManifest(root, "chat-agent", "roomservice-demo/chat-agent:latest", null), "the current example, exactly");
  const kept = await byName("pipeline");
  assert.equal(kept.version, 2, "the operator's revision, untouched");
  assert.equal((kept.spec.metadata as { description: string }).description, "mine now");
  assert.ok(JSON.stringify(kept.spec).includes("\"startIntervalSeconds\":0.25"), "not the improved manifest");
  assert.ok(log.lines.some((l) => l.msg.startsWith("demo: updated chat-agent to this release's example manifests")), JSON.stringify(log.lines));
  assert.ok(log.lines.some((l) => l.msg.startsWith("demo: left pipeline as you edited them")), JSON.stringify(log.lines));

  // The upgrade is recorded: the next start updates nothing and keeps calling pipeline edited.
  const again = await setUpDemo(deps());
  assert.deepEqual([again.updated, again.edited], [[], ["pipeline"]]);
  assert.equal((await byName("chat-agent")).version, 2);
  // A later improvement reaches chat-agent again (the demo wrote revision 2 itself).
  await improve(root, "chat-agent");
  assert.deepEqual((await setUpDemo(deps())).updated, ["chat-agent"]);
  assert.equal((await byName("chat-agent")).version, 3);
});

test("a marker of an earlier release (name → id): revision 1 with the demo's image is upgraded; an operator's own service never is", async (t) => {
  const ts = await startTestServer({});
  t.after(() => ts.close());
  const root = await exampleRoot(t);
  const deps = { dataDir: ts.dataDir, store: ts.server.ctx.store, projectId: "default", services: ts.server.services, secrets: ts.server.secrets, logger: pino({ level: "silent" }), imageFor: (e: string) => `roomservice-demo/${e}:latest`, root };
  await setUpDemo(deps);
  const state = new InstallationState(ts.server.ctx.store);
  const marker = JSON.parse((await state.get(DEMO_STATE))!) as { services: Record<string, string>; revisions?: unknown };
  // As earlier releases wrote it: no revisions. And mcp-tools replaced by the operator's own
  // service of that name (another image), which the marker does not record.
  delete marker.revisions;
  const mine = await ts.server.services.findByName("default", "demo", "mcp-tools");
  await ts.server.services.delete(mine!.id);
  const own = await ts.server.services.create("default", "demo", "mcp-tools", { ...mine!.spec, container: { ...(mine!.spec.container as object), image: "acme/tools:1" } }, Date.now());
  delete marker.services["mcp-tools"];
  await state.put(DEMO_STATE, JSON.stringify(marker), Date.now());

  for (const e of ["chat-agent", "mcp-tools", "crm-sync"]) await improve(root, e);
  const up = await setUpDemo(deps);
  assert.deepEqual(up.updated.sort(), ["chat-agent", "crm-sync"]);
  const ownNow = (await ts.server.services.get(own.id))!;
  assert.equal(ownNow.version, 1, "the operator's own mcp-tools is never the demo's");
  assert.equal((ownNow.spec.container as { image: string }).image, "acme/tools:1");
  const written = JSON.parse((await state.get(DEMO_STATE))!) as { revisions: Record<string, number> };
  assert.equal(written.revisions["chat-agent"], 2);
  assert.equal(written.revisions["mcp-tools"], undefined);
});
