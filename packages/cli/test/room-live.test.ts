import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { mintParticipantToken } from "@roomservice/server";
import { cleanEnv, cliAsync, eventually, main, serve } from "./helpers.ts";

const require = createRequire(import.meta.url);
// The SDK's ESM entry is CommonJS marked as ESM (docs/decisions.md).
const sdk = require("@meshagent/meshagent");
const ticker = fileURLToPath(new URL("./fixtures/ticker.mjs", import.meta.url));

/** A tmux server of this test's own (its own socket), so nobody else's sessions are touched. */
function tmux(socket: string) {
  const run = (...args: string[]) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8", env: cleanEnv({ TERM: "xterm-256color" }) });
  return {
    run,
    /** The visible text of a window, joined lines (-J) so wrapped lines match whole. */
    capture: (target: string) => run("capture-pane", "-p", "-J", "-S", "-200", "-t", target),
    kill: () => {
      try {
        run("kill-server");
      } catch {
        // already gone
      }
    },
  };
}

test("#7 acceptance 5: room logs -f and room events -f in tmux show a real service's live output; room list/services/restart/logs/events", async (t) => {
  const srv = await serve({ runtime: "sandbox", args: ["--departure-timeout", "1"] });
  t.after(() => srv.stop());
  const o = { cwd: srv.home };
  const room = `live-${randomBytes(3).toString("hex")}`;
  const file = join(srv.home, "ticker.yaml");
  await writeFile(file, `version: v1\nkind: Service\nmetadata:\n  name: ticker\ncontainer:\n  image: host\n  command: ${process.execPath} ${ticker}\n`);
  const created = await cliAsync(["service", "create", "-f", file, "--room", room], o);
  assert.equal(created.code, 0, created.err);

  // Before any session: the room is listed (it has a service), idle; services are stopped.
  const idle = await cliAsync(["room", "list"], o);
  assert.equal(idle.code, 0, idle.err);
  assert.match(idle.out, new RegExp(`^${room}\\s+-\\s+-\\s+-\\s+idle$`, "m"));

  // Followers start first, on an idle room: they must pick up the session when it starts.
  const socket = `rs-cli-test-${randomBytes(4).toString("hex")}`;
  const tm = tmux(socket);
  t.after(() => tm.kill());
  const cmd = (args: string) => `cd ${srv.home} && ${process.execPath} ${main} ${args}; sleep 600`;
  tm.run("new-session", "-d", "-s", "cli", "-x", "220", "-y", "60", "-n", "logs", cmd(`room logs ${room} -f`));
  tm.run("new-window", "-d", "-t", "cli", "-n", "events", cmd(`room events ${room} -f`));
  await eventually(() => tm.capture("cli:logs").includes(`room ${room} is idle; waiting for its next session`), 60000, "the log follower to attach");
  await eventually(() => tm.capture("cli:events").includes(`room ${room} is idle`), 60000, "the event follower to attach");

  // A participant joins: the session starts, and with it the ticker.
  const access = JSON.parse(readFileSync(join(srv.dataDir, "cli-access.json"), "utf8"));
  const secret = readFileSync(join(srv.dataDir, "project-secret"), "utf8").trim();
  const jwt = await mintParticipantToken(secret, { room, identity: "alice", role: "user", ttlSeconds: 600 });
  const client = new sdk.RoomClient({
    protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${access.url.replace(/^http/, "ws")}/rooms/${room}`, token: jwt }),
    reconnectTimeout: 0,
  });
  await client.start();
  t.after(() => client.dispose());

  // Live output in the terminal: stdout lines, stderr lines, and the lifecycle events.
  await eventually(() => /ticker \| tick 3\b/.test(tm.capture("cli:logs")), 60000, "tick lines in `room logs -f`");
  await eventually(() => /ticker \| tock 5 on stderr/.test(tm.capture("cli:logs")), 60000, "a stderr line in `room logs -f`");
  const events = await eventually(() => {
    const s = tm.capture("cli:events");
    return /ParticipantJoined\s+alice/.test(s) && /Started\s+ticker/.test(s) ? s : false;
  }, 60000, "Started and ParticipantJoined in `room events -f`");
  assert.match(events, /SessionStarted/);

  // The state table and its JSON.
  const running = await eventually(async () => {
    const r = await cliAsync(["room", "services", room, "--json"], o);
    const s = r.code === 0 ? (JSON.parse(r.out) as { name: string; state: string }[]) : [];
    return s.find((x) => x.name === "ticker" && (x.state === "ready" || x.state === "starting")) ? s : false;
  }, 60000, "ticker running in `room services --json`");
  assert.equal(running.length, 1);
  const table = await cliAsync(["room", "services", room], o);
  assert.match(table.out, /^SERVICE\s+STATE\s+RESTARTS\s+LAST EXIT\s+PORTS\s+AGE\s+IMAGE$/m);
  assert.match(table.out, /^ticker\s+(ready|starting)\s+0\s+-\s+-\s+\S+\s+host$/m);
  const listed = await cliAsync(["room", "list"], o);
  assert.match(listed.out, new RegExp(`^${room}\\s+\\S+\\s+\\S+\\s+1\\s+\\S+$`, "m"));

  // Restart: a second "ticker started" reaches the follower, with a new pid.
  const before = (tm.capture("cli:logs").match(/ticker started/g) ?? []).length;
  const restarted = await cliAsync(["room", "restart", room, "ticker"], o);
  assert.equal(restarted.code, 0, restarted.err);
  assert.match(restarted.out, new RegExp(`restarting ticker in room ${room}`));
  await eventually(() => (tm.capture("cli:logs").match(/ticker started/g) ?? []).length > before, 60000, "the restarted ticker's first line");
  const unknown = await cliAsync(["room", "restart", room, "nope"], o);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, new RegExp(`room ${room} has no service "nope"; its services: ticker`));

  // Without -f: what this session kept.
  const logs = await cliAsync(["room", "logs", room, "ticker"], o);
  assert.equal(logs.code, 0, logs.err);
  assert.match(logs.out, /^ticker \| tick 1$/m);
  assert.match(logs.err, /^ticker \| tock 5 on stderr$/m);
  const last2 = await cliAsync(["room", "logs", room, "--tail", "2"], o);
  assert.equal(last2.code, 0, last2.err);
  assert.equal((last2.out + last2.err).trim().split("\n").filter((l) => /^ticker \| /.test(l)).length, 2);
  const ev = await cliAsync(["room", "events", room], o);
  assert.equal(ev.code, 0, ev.err);
  assert.match(ev.out, /Normal\s+Started\s+ticker/);
});

test("#12.30: on a terminal, secret set NAME prompts for the value without echoing it", async (t) => {
  const srv = await serve();
  t.after(() => srv.stop());
  const socket = `rs-cli-test-${randomBytes(4).toString("hex")}`;
  const tm = tmux(socket);
  t.after(() => tm.kill());
  const value = `typed-secret-${randomBytes(6).toString("hex")}`;
  tm.run("new-session", "-d", "-s", "cli", "-x", "200", "-y", "20", `cd ${srv.home} && ${process.execPath} ${main} secret set typed; echo "exit=$?"; sleep 600`);
  await eventually(() => tm.capture("cli:0").includes("value for secret typed (not echoed): "), 60000, "the prompt");
  tm.run("send-keys", "-t", "cli:0", "-l", value);
  tm.run("send-keys", "-t", "cli:0", "Enter");
  const screen = await eventually(() => {
    const s = tm.capture("cli:0");
    return s.includes("exit=") ? s : false;
  }, 60000, "secret set to finish");
  assert.match(screen, new RegExp(`stored secret typed \\(id [0-9a-f-]+, ${value.length} bytes\\)`));
  assert.match(screen, /exit=0/);
  assert.ok(!screen.includes(value), `the typed value was echoed:\n${screen}`);
  assert.match((await cliAsync(["secret", "list"], { cwd: srv.home })).out, /\btyped\s+opaque/);
});
