import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cleanEnv, cli, cliAsync, main, serve, type CliResult } from "./helpers.ts";

/**
 * Runs the real CLI with a stdout pipe whose reading end is closed before the CLI writes
 * (what `roomservice … | head -1` does once head has its line).
 */
function cliIntoClosedPipe(args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [main, ...args], { cwd, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    c.stdout.destroy();
    let err = "";
    c.stderr.on("data", (d) => (err += d));
    c.on("close", (code) => resolve({ code, out: "", err }));
  });
}

const manifest = (name: string, extra = "") =>
  `version: v1\nkind: Service\nmetadata:\n  name: ${name}\ncontainer:\n  image: example/web:1\n${extra}`;

test("a reader that closes early: every command exits 0 quietly (no EPIPE stack trace)", async (t) => {
  // No server needed: the JSON Schema is long, so it is written after head has gone.
  const spec = await cliIntoClosedPipe(["service", "spec", "--json-schema"], tmpdir());
  assert.equal(spec.err, "");
  assert.equal(spec.code, 0);

  const srv = await serve();
  t.after(() => srv.stop());
  const file = join(srv.home, "web.yaml");
  await writeFile(file, manifest("web"));
  assert.equal((await cliAsync(["service", "create", "-f", file, "--room", "lobby"], { cwd: srv.home })).code, 0);
  for (const args of [["service", "list"], ["room", "services", "lobby"], ["room", "sessions", "lobby"], ["room", "list"], ["secret", "list"]]) {
    const r = await cliIntoClosedPipe(args, srv.home);
    assert.equal(r.err, "", args.join(" "));
    assert.equal(r.code, 0, args.join(" "));
  }
});

test("secret set replaces an existing secret in place (same id), and warns about a value too short to be masked", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const o = { cwd: srv.home };
  const first = await cliAsync(["secret", "set", "token", "--value", "first-value"], o);
  assert.equal(first.code, 0, first.err);
  const id = /stored secret token \(id ([0-9a-f-]+), 11 bytes\)/.exec(first.out)?.[1];
  assert.ok(id, first.out);
  assert.equal(first.err, "");
  const again = await cliAsync(["secret", "set", "token", "--value", "second-value"], o);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, new RegExp(`replaced secret token \\(id ${id}, 12 bytes\\)`));
  const listed = await cliAsync(["secret", "list"], o);
  const rows = listed.out.trim().split("\n");
  assert.match(rows[0]!, /^ID\s+NAME\s+TYPE\s+UPDATED$/);
  assert.equal(rows.length, 2, listed.out);

  // Room secrets too.
  assert.equal((await cliAsync(["secret", "set", "token", "--room", "lobby", "--value", "abcdef"], o)).code, 0);
  assert.match((await cliAsync(["secret", "set", "token", "--room", "lobby", "--value", "ghijkl"], o)).out, /replaced secret token in room lobby/);

  // Under 4 bytes: stored, with the server's warning printed.
  const short = await cliAsync(["secret", "set", "pin", "--value", "42"], o);
  assert.equal(short.code, 0, short.err);
  assert.match(short.err, /^warning: secret pin: the value is 2 bytes: values under 4 bytes are not masked \(\*\*\*\*\) in service logs\n$/);
  const shortAgain = await cliAsync(["secret", "set", "pin", "--value", "7"], o);
  assert.match(shortAgain.err, /the value is 1 byte: values under 4 bytes/);
});

test("missing arguments and empty states are said plainly (apikey delete, llm clear); service list has a header and an ENABLED column", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const o = { cwd: srv.home };
  const del = cli(["apikey", "delete"], o);
  assert.equal(del.code, 2);
  assert.match(del.err, /apikey delete: which key\? pass its id/);
  assert.doesNotMatch(del.err, /undefined/);
  assert.match(cli(["apikey", "delete", "nope"], o).err, /no API key with id "nope"/);

  assert.equal((await cliAsync(["llm", "clear"], o)).out, "no llm upstream was configured; nothing removed\n");
  assert.equal((await cliAsync(["llm", "set", "--base-url", "http://127.0.0.1:9/v1"], o)).code, 0);
  assert.equal((await cliAsync(["llm", "clear"], o)).out, "llm upstream removed (was http://127.0.0.1:9/v1)\n");

  const file = join(srv.home, "web.yaml");
  await writeFile(file, manifest("web"));
  assert.equal((await cliAsync(["service", "create", "-f", file, "--room", "lobby"], o)).code, 0);
  await writeFile(file, manifest("idle", "enabled: false\n"));
  const off = await cliAsync(["service", "create", "-f", file, "--global"], o);
  assert.equal(off.code, 0, off.err);
  const list = await cliAsync(["service", "list"], o);
  const lines = list.out.trim().split("\n");
  assert.match(lines[0]!, /^ID\s+NAME\s+SCOPE\s+ENABLED\s+REVISION\s+IMAGE$/);
  assert.match(lines.find((l) => l.includes(" idle "))!, /idle\s+\(global\)\s+no\s+1\s+example\/web:1/);
  assert.match(lines.find((l) => l.includes(" web "))!, /web\s+room lobby\s+yes\s+1\s+example\/web:1/);
});

test("service get output goes back into service update -f; a manifest warning is printed with one prefix", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const o = { cwd: srv.home };
  const file = join(srv.home, "web.yaml");
  await writeFile(file, manifest("web"));
  assert.equal((await cliAsync(["service", "create", "-f", file, "--room", "lobby"], o)).code, 0);
  const got = await cliAsync(["service", "get", "web", "--room", "lobby"], o);
  const record = JSON.parse(got.out);
  record.container.image = "example/web:2";
  const edited = join(srv.home, "web.json");
  await writeFile(edited, JSON.stringify(record, null, 2));
  const upd = await cliAsync(["service", "update", "-f", edited, "--room", "lobby"], o);
  assert.equal(upd.code, 0, upd.err);
  assert.match(upd.out, /updated service web to revision 2/);
  assert.equal(upd.err, "");
  const now = JSON.parse((await cliAsync(["service", "get", "web", "--room", "lobby"], o)).out);
  assert.equal(now.container.image, "example/web:2");
  // The same file again: its revision (1) is behind the server's (2): noted, then replaced.
  const stale = await cliAsync(["service", "update", "-f", edited, "--room", "lobby"], o);
  assert.equal(stale.code, 0, stale.err);
  assert.match(stale.err, /note: .*web\.json: ignoring revision 1 \(the server is at 2: it was changed since; replacing it anyway\)/);
  // Anything else unknown is still refused.
  await writeFile(edited, JSON.stringify({ ...record, colour: "red" }));
  const bad = await cliAsync(["service", "update", "-f", edited, "--room", "lobby"], o);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /colour/);

  // A warning from the manifest: "file:line:col: warning: path: message", once.
  await writeFile(file, manifest("web", "  command: echo hi && sleep 1\n"));
  const warned = cli(["service", "validate", "-f", file]);
  assert.equal(warned.code, 0, warned.err);
  assert.ok(warned.err.length > 0, "expected a warning for a shell command");
  for (const line of warned.err.trim().split("\n")) assert.equal(line.match(/warning:/g)?.length, 1, line);
});

test("REST: service create/update take {yaml} like validate; restart of a disabled service is a 409 that says how to enable it; a mistyped key says what was expected", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const key = JSON.parse(readFileSync(join(srv.dataDir, "cli-access.json"), "utf8")).api_key as string;
  const base = `${srv.url}/accounts/projects/default`;
  const call = async (method: string, path: string, body?: unknown, bearer = key) => {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
  };
  const created = await call("POST", "/rooms/lobby/services", { yaml: manifest("web") });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const updated = await call("PUT", `/rooms/lobby/services/${created.body.id}`, { yaml: manifest("web", "enabled: false\n") });
  assert.equal(updated.status, 200, JSON.stringify(updated.body));
  assert.equal((await call("GET", `/rooms/lobby/services/${created.body.id}`)).body.enabled, false);
  // The text a {yaml} body carried is kept as the service's source, for its revision (editors show it, comments included).
  const source = await call("GET", `/rooms/lobby/services/${created.body.id}/source`);
  assert.deepEqual(source.body, { yaml: manifest("web", "enabled: false\n"), revision: updated.body.revision, current_revision: updated.body.revision });
  // A YAML error is located like validate's.
  const badYaml = await call("POST", "/services", { yaml: manifest("web2", "colour: red\n") });
  assert.equal(badYaml.status, 400);
  assert.equal(badYaml.body.errors[0].path, "colour");
  assert.equal(badYaml.body.errors[0].line, 7);
  // Still strict: {yaml} with anything beside it is an (invalid) manifest object.
  assert.equal((await call("POST", "/services", { yaml: manifest("web3"), extra: 1 })).status, 400);

  const restart = await call("POST", "/rooms/lobby/services/web/restart", {});
  assert.equal(restart.status, 409);
  assert.match(restart.body.error, /service web is disabled \(enabled: false in its manifest\), so it is not started; to run it, set enabled: true/);
  const viaCli = await cliAsync(["room", "restart", "lobby", "web"], { cwd: srv.home });
  assert.equal(viaCli.code, 2);
  assert.match(viaCli.err, /409 service web is disabled/);

  // Secrets: a short value gets a warning in the REST answer too (create and replace).
  const sec = await call("POST", "/secrets", { name: "pin", data_base64: Buffer.from("12").toString("base64") });
  assert.equal(sec.status, 201);
  assert.match(sec.body.warnings[0].message, /values under 4 bytes are not masked/);
  const put = await call("PUT", `/secrets/${sec.body.id}`, { data_base64: Buffer.from("longer-value").toString("base64") });
  assert.equal(put.status, 200);
  assert.deepEqual(put.body.warnings, []);

  const nope = await call("GET", "/services", undefined, "nope");
  assert.equal(nope.status, 401);
  assert.match(nope.body.error, /expected an API key \(rsk_…, from "roomservice apikey create"\) or a JWT signed with the project secret/);
  assert.doesNotMatch(nope.body.error, /Invalid Compact JWS$/);
});
