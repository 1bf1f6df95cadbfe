import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { readFileSync, statSync } from "node:fs";
import { spawn } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { mintParticipantToken } from "@roomservice/server";
import { cleanEnv, cli, cliAsync, eventually, main, serve } from "./helpers.ts";

// The SDK's ESM entry is CommonJS marked as ESM (docs/decisions.md).
const sdk = createRequire(import.meta.url)("@meshagent/meshagent");

const manifest = (name: string, image = "example/web:1") =>
  `version: v1\nkind: Service\nmetadata:\n  name: ${name}\ncontainer:\n  image: ${image}\nports:\n  - num: 8080\n    liveness: /healthz\n`;

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test("#7/#12.29: server commands talk to the running server with the key serve wrote; no server or a bad key is said clearly", async (t) => {
  const port = await deadPort();
  // Nobody listening: which URL, where it came from, what to do — not a stack trace.
  const none = cli(["room", "list", "--url", `http://127.0.0.1:${port}`, "--api-key", "rsk_x"]);
  assert.equal(none.code, 2);
  assert.match(none.err, new RegExp(`no Roomservice server answers at http://127.0.0.1:${port} \\(ECONNREFUSED; URL from --url\\)`));
  assert.match(none.err, /Start one with "roomservice serve", or point --url \/ ROOMSERVICE_URL at the running server/);
  assert.doesNotMatch(none.err, /\n\s+at /);
  const noKeyNoServer = cli(["service", "list"], { env: { ROOMSERVICE_URL: `http://127.0.0.1:${port}` } });
  assert.equal(noKeyNoServer.code, 2);
  assert.match(noKeyNoServer.err, /no Roomservice server answers at .* URL from ROOMSERVICE_URL/);

  const srv = await serve();
  t.after(() => srv.stop());
  // serve wrote a 0600 access file for this machine's CLI.
  const access = JSON.parse(readFileSync(join(srv.dataDir, "cli-access.json"), "utf8"));
  assert.equal(access.url, srv.url);
  assert.match(access.api_key, /^rsk_/);
  assert.equal(statSync(join(srv.dataDir, "cli-access.json")).mode & 0o777, 0o600);

  // From the server's directory nothing needs to be configured.
  const file = join(srv.home, "web.yaml");
  await writeFile(file, manifest("web"));
  const created = await cliAsync(["service", "create", "-f", file, "--room", "lobby"], { cwd: srv.home });
  assert.equal(created.code, 0, created.err);
  assert.match(created.out, /created service web in room lobby/);
  // Elsewhere, with --data pointing at it.
  const listed = await cliAsync(["service", "list", "--room", "lobby", "--data", srv.dataDir]);
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, /web\s+room lobby\s+yes\s+1\s+example\/web:1/);

  // The file's key goes only to the URL written beside it, never to another server.
  const other = await cliAsync(["service", "list", "--data", srv.dataDir, "--url", `http://127.0.0.1:${await deadPort()}`]);
  assert.equal(other.code, 2);
  assert.match(other.err, /no Roomservice server answers/);
  const elsewhere = await cliAsync(["service", "list", "--url", srv.url]);
  assert.equal(elsewhere.code, 2);
  assert.match(elsewhere.err, new RegExp(`no API key for ${srv.url}: pass --api-key or set ROOMSERVICE_API_KEY`));
  assert.match(elsewhere.err, /looked at .*cli-access\.json/);
  const wrong = await cliAsync(["service", "list", "--url", srv.url, "--api-key", "rsk_00000000000000000000000000000000_nope"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.err, new RegExp(`the server at ${srv.url} refused the API key from --api-key \\(401: API key not recognized`));

  // An explicit key works from anywhere (ROOMSERVICE_URL + ROOMSERVICE_API_KEY).
  const viaEnv = await cliAsync(["service", "list", "--global"], { env: { ROOMSERVICE_URL: srv.url, ROOMSERVICE_API_KEY: access.api_key } });
  assert.equal(viaEnv.code, 0, viaEnv.err);
  assert.equal(viaEnv.out, "no services\n");
});

test("#12.26/#12.30: service get shows version v1 and the revision, and says which room has a service", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const o = { cwd: srv.home };
  const file = join(srv.home, "web.yaml");
  await writeFile(file, manifest("web"));
  assert.equal((await cliAsync(["service", "create", "-f", file, "--room", "lobby"], o)).code, 0);
  await writeFile(file, manifest("web", "example/web:2"));
  const upd = await cliAsync(["service", "update", "-f", file, "--room", "lobby"], o);
  assert.equal(upd.code, 0, upd.err);
  assert.match(upd.out, /updated service web to revision 2/);

  const got = await cliAsync(["service", "get", "web", "--room", "lobby"], o);
  assert.equal(got.code, 0, got.err);
  const s = JSON.parse(got.out);
  assert.equal(s.version, "v1");
  assert.equal(s.revision, 2);
  assert.equal(s.room, "lobby");
  assert.equal(s.container.image, "example/web:2");

  // No --room: the project has no "web", room lobby does — say so.
  const guess = await cliAsync(["service", "get", "web"], o);
  assert.match(guess.err, /room lobby has it; next time: roomservice service get web --room lobby/);
  assert.equal(JSON.parse(guess.out).room, "lobby");
  const del = await cliAsync(["service", "delete", "web"], o);
  assert.equal(del.code, 2);
  assert.match(del.err, /no project service "web"; room lobby has one: pass --room lobby/);
  const missing = await cliAsync(["service", "get", "nope"], o);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /no service "nope" in the project or any room/);
  assert.match((await cliAsync(["service", "delete", "web", "--room", "lobby"], o)).out, /deleted service web/);
});

test("#12.30: secret set errors are messages, bad room names and unknown rooms exit non-zero", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const o = { cwd: srv.home };
  const missing = await cliAsync(["secret", "set", "x", "--from-file", "/missing/file"], o);
  assert.equal(missing.code, 2);
  assert.equal(missing.err, "roomservice: --from-file: cannot read /missing/file (no such file)\n");

  const badRoom = await cliAsync(["secret", "set", "x", "--value", "v", "--room", "Bad Room!"], o);
  assert.equal(badRoom.code, 2);
  assert.match(badRoom.err, /--room: invalid room name "Bad Room!"/);
  for (const args of [["room", "sessions", "Bad Room!"], ["room", "services", "../x"], ["room", "logs", "Bad Room!"], ["room", "set-departure-timeout", "../x", "3"]]) {
    const r = await cliAsync(args, o);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, /invalid room name/);
  }

  const unknown = await cliAsync(["room", "sessions", "never-used"], o);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.err, /no room "never-used" on the server at .*: it has no sessions, services, secrets or settings/);

  const set = await cliAsync(["room", "set-departure-timeout", "lobby", "3"], o);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /room lobby: departure timeout 3 s/);
  assert.match((await cliAsync(["room", "set-departure-timeout", "lobby", "soon"], o)).err, /<seconds>: expected an integer/);

  // The value never comes back out.
  const ok = cli(["secret", "set", "api-key"], { ...o, input: "super-secret-value-42" });
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /stored secret api-key \(id [0-9a-f-]+, 21 bytes\)/);
  const l = await cliAsync(["secret", "list"], o);
  assert.match(l.out, /^ID\s+NAME\s+TYPE\s+UPDATED\n.*api-key\s+opaque/);
  assert.ok(!l.out.includes("super-secret-value-42"));
  assert.match((await cliAsync(["secret", "set", "bad name!", "--value", "x"], o)).err, /400 name: "bad name!" is invalid: use 1-128 letters/);
  assert.match((await cliAsync(["secret", "delete", "api-key"], o)).out, /deleted secret api-key/);

  // llm manages the server too: over REST, with the server's own checks.
  assert.match((await cliAsync(["llm", "show"], o)).out, /no llm upstream configured/);
  const noSecret = await cliAsync(["llm", "set", "--base-url", "http://127.0.0.1:9/v1", "--api-key-secret", "missing-key"], o);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.err, /api_key_secret: project secret "missing-key" does not exist/);
  const llmSet = await cliAsync(["llm", "set", "--base-url", "http://127.0.0.1:9/v1"], o);
  assert.equal(llmSet.code, 0, llmSet.err);
  assert.match((await cliAsync(["llm", "show"], o)).out, /base url: http:\/\/127\.0\.0\.1:9\/v1/);
  assert.equal((await cliAsync(["llm", "usage"], o)).out, "no LLM usage recorded\n");
});

test("#7: room events -f keeps following across a server restart on the same data directory", async (t) => {
  const port = await deadPort();
  const first = await serve({ port, keepHome: true });
  const home = first.home;
  const keyBefore = JSON.parse(readFileSync(join(first.dataDir, "cli-access.json"), "utf8")).api_key;
  t.after(() => rm(home, { recursive: true, force: true }));
  const follower = spawn(process.execPath, [main, "room", "events", "lobby", "-f"], { cwd: home, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => void follower.kill("SIGINT"));
  let out = "";
  follower.stdout.on("data", (d) => (out += d));
  follower.stderr.on("data", (d) => (out += d));
  await eventually(() => out.includes("room lobby is idle; waiting"), 60000, "the follower to attach");
  await first.stop();
  await eventually(() => out.includes("the server stopped answering") || out.includes("reconnecting"), 60000, `the follower to notice:\n${out}`);

  const second = await serve({ port, home, keepHome: true });
  t.after(() => second.stop());
  // The local key survives the restart (a follower's key keeps working).
  assert.equal(JSON.parse(readFileSync(join(second.dataDir, "cli-access.json"), "utf8")).api_key, keyBefore);
  await eventually(() => out.includes("reconnected"), 60000, `the follower to reconnect:\n${out}`);
  // A session after the restart reaches the same follower.
  const secret = readFileSync(join(second.dataDir, "project-secret"), "utf8").trim();
  const jwt = await mintParticipantToken(secret, { room: "lobby", identity: "bob", role: "user", ttlSeconds: 600 });
  const client = new sdk.RoomClient({
    protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `ws://127.0.0.1:${port}/rooms/lobby`, token: jwt }),
    reconnectTimeout: 0,
  });
  await client.start();
  t.after(() => client.dispose());
  await eventually(() => /ParticipantJoined\s+bob/.test(out), 60000, `bob's join in the follower:\n${out}`);
  assert.equal(follower.exitCode, null, out);
});
