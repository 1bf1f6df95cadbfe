/**
 * Server errors land on the form row they are about, even when empty rows before it were
 * dropped from the manifest: each error of the server's validator for a form's manifest maps
 * to an input the form renders.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateManifestObject } from "@roomservice/manifest";
import { emptyEnv, emptyForm, emptyMount, emptyPort, toManifest } from "../src/manifest-form.ts";
import { digitsOnly, fieldOfError } from "../src/form-errors.ts";

test("errors map to their inputs across dropped empty rows", () => {
  const f = emptyForm();
  f.name = "Form Svc";
  f.image = "x:1";
  f.env = [emptyEnv(), { ...emptyEnv(), name: "KEY", kind: "secret", secretId: "" }];
  f.ports = [emptyPort(), { num: "", type: "http", liveness: "healthz" }];
  f.mounts = [emptyMount(), { path: "relative", subpath: "", readOnly: false }];
  f.memory = "256m";
  f.cpus = "lots";
  const r = validateManifestObject(toManifest(f));
  assert.equal(r.ok, false);
  const ids = r.ok ? [] : r.errors.map((e) => [e.path, fieldOfError(e.path, f)]);
  const byPath = Object.fromEntries(ids);
  assert.equal(byPath["metadata.name"], "f-name");
  assert.equal(byPath["ports[0].liveness"], "f-port-1-liveness", "the second form row is ports[0]");
  assert.equal(byPath["ports[0].num"], "f-port-1-num");
  assert.equal(byPath["roomservice.resources.memory"], "f-mem");
  assert.equal(byPath["roomservice.resources.cpus"], "f-cpu");
  for (const [path, id] of ids) assert.notEqual(id, null, `${path} has an input`);
  assert.equal(fieldOfError("container.environment[0].secret.id", f), "f-env-1-secret");
  assert.equal(fieldOfError("container.storage.room[0].path", f), "f-mount-1-path");
  assert.equal(fieldOfError("annotations.x", f), null, "no control: stays in the list only");
});

test("port boxes keep digits only", () => {
  assert.equal(digitsOnly("abc"), "");
  assert.equal(digitsOnly("80a8"), "808");
  assert.equal(digitsOnly("8080"), "8080");
});
