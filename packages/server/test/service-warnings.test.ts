import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IMAGES, manifest, startServicesServer } from "./services-env.ts";
import { runCli } from "./helpers.ts";

const GHOST = "roomservice-example/never-built:1";


test("create and update answer the same warnings as validate: a missing image is said through REST and the CLI", async (t) => {
  const env = await startServicesServer();
  t.after(() => env.close());
  const key = (await env.ts.server.apiKeys.create("default", "ops", Date.now())).key;
  const call = (method: string, path: string, body: unknown) =>
    fetch(`${env.ts.url}/accounts/projects/default${path}`, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

  const validated = (await (await call("POST", "/services/validate", manifest("ghost", GHOST))).json()) as any;
  const imageWarning = validated.warnings.find((w: any) => w.path === "container.image");
  assert.match(imageWarning.message, new RegExp(`image ${GHOST} is not on this Docker host`));

  // REST create: the same warning as validate.
  const created = await call("POST", "/rooms/warn-room/services", manifest("ghost", GHOST));
  assert.equal(created.status, 201);
  const c = (await created.json()) as any;
  assert.deepEqual(c.warnings, [imageWarning]);
  // A project service too.
  assert.deepEqual(((await (await call("POST", "/services", manifest("ghost2", GHOST))).json()) as any).warnings, [imageWarning]);

  // REST update: the warning again while the image is still missing; none once it exists.
  const updated = await call("PUT", `/rooms/warn-room/services/${c.id}`, manifest("ghost", GHOST));
  assert.equal(updated.status, 200);
  assert.deepEqual(((await updated.json()) as any).warnings, [imageWarning]);
  const fixed = await call("PUT", `/rooms/warn-room/services/${c.id}`, manifest("ghost", IMAGES.http));
  assert.deepEqual(((await fixed.json()) as any).warnings, []);

  // The CLI prints it on create and on update.
  const dir = await mkdtemp(join(tmpdir(), "rs-warn-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "meshagent.yaml");
  await writeFile(file, `version: v1\nkind: Service\nmetadata:\n  name: cli-ghost\ncontainer:\n  image: ${GHOST}\n`);
  const remote = ["--url", env.ts.url, "--api-key", key];
  const cr = await runCli(["service", "create", "-f", file, "--room", "warn-room", ...remote]);
  assert.equal(cr.code, 0, cr.err);
  assert.match(cr.out, /created service cli-ghost in room warn-room/);
  assert.match(cr.err, new RegExp(`warning: ${file}: container.image: image ${GHOST} is not on this Docker host`));
  const up = await runCli(["service", "update", "-f", file, "--room", "warn-room", ...remote]);
  assert.equal(up.code, 0, up.err);
  assert.match(up.err, new RegExp(`warning: ${file}: container.image: image ${GHOST} is not on this Docker host`));
});
