import { test } from "node:test";
import assert from "node:assert/strict";
import { analyzeCommand, CommandSyntaxError, normalizeManifest, parseManifest, splitCommand } from "../src/index.ts";
import { accepted, errorAt, withExtra } from "./fixtures.ts";

test("a command string splits into argv like a shell would, without a shell", () => {
  assert.deepEqual(splitCommand("python -m app"), ["python", "-m", "app"]);
  assert.deepEqual(splitCommand(`node  server.js --name "Room Bot" --rule 'it''s fine'`), ["node", "server.js", "--name", "Room Bot", "--rule", "its fine"]);
  assert.deepEqual(splitCommand(`echo "a \\"quoted\\" word" back\\ slash ''`), ["echo", 'a "quoted" word', "back slash", ""]);
  assert.deepEqual(splitCommand(`meshagent multi -c "chatbot --x; mailbot --y"`), ["meshagent", "multi", "-c", "chatbot --x; mailbot --y"]);
  assert.deepEqual(splitCommand("   "), []);
  assert.deepEqual(splitCommand("run --pattern=*.txt"), ["run", "--pattern=*.txt"]);
});

test("shell syntax is detected and named", () => {
  for (const [cmd, what, script] of [
    ["a && b", '"&&"', "a && exec b"],
    ["a | b", '"|"', "a | b"],
    ["echo $HOME", "$HOME", "exec echo $HOME"],
    ['echo "$HOME"', "$HOME", 'exec echo "$HOME"'],
    ["cat < x", '"<"', "cat < x"],
    ["FOO=1 node x", "FOO=1", "FOO=1 node x"],
    ["a\nb", "line break", "a\nb"],
  ] as const) {
    const a = analyzeCommand(cmd);
    assert.equal(a?.kind, "shell", cmd);
    if (a?.kind === "shell") {
      assert.ok(a.reason.includes(what), `${cmd}: ${a.reason}`);
      assert.deepEqual(a.argv, ["/bin/sh", "-c", script]);
      assert.equal(a.execLast, script !== cmd);
    }
  }
  assert.throws(() => splitCommand("a && b"), CommandSyntaxError);
  // quoted, the same characters are plain text
  assert.deepEqual(splitCommand("echo '$HOME && x'"), ["echo", "$HOME && x"]);
});

test("a shell command in a manifest runs via /bin/sh -c and is warned about", () => {
  const r = accepted(parseManifest(withExtra("  command: python -m app && echo done\n")));
  assert.equal(r.warnings.length, 1);
  assert.equal(r.warnings[0].path, "container.command");
  assert.match(r.warnings[0].message, /\/bin\/sh/);
  assert.match(r.warnings[0].message, /last command is started with exec, so that program receives the stop signal/);
  assert.equal(r.warnings[0].line, 7);
  const n = normalizeManifest(r.manifest);
  assert.deepEqual(n.command, ["/bin/sh", "-c", "python -m app && exec echo done"]);
  assert.equal(n.commandViaShell, true);
});

test("issue 12 #23: the last command of a cd … && … chain is exec'd so it gets the stop signal; other scripts are warned about", () => {
  const a = analyzeCommand("cd /app && node server.js --name 'A && B'");
  assert.deepEqual(a, {
    kind: "shell", reason: 'the operator "&&"', execLast: true,
    argv: ["/bin/sh", "-c", "cd /app && exec node server.js --name 'A && B'"],
  });
  for (const cmd of ["cd /app && node a.js | tee log", "cd /app; node a.js", "node a.js || node b.js", "cd /app && cd sub", "node a & node b", "cd /x && $(which node) a.js"]) {
    const r = analyzeCommand(cmd);
    assert.equal(r?.kind === "shell" && r.execLast, false, cmd);
    assert.deepEqual(r?.kind === "shell" ? r.argv : null, ["/bin/sh", "-c", cmd]);
  }
  const w = accepted(parseManifest(withExtra("  command: node a.js | tee log\n"))).warnings[0];
  assert.match(w.message, /the stop signal goes to every process of the command at once/);
});

test("an argv list is used as is; an unterminated quote is an error", () => {
  const n = normalizeManifest(accepted(parseManifest(withExtra('  command: [node, "a b.js"]\n'))).manifest);
  assert.deepEqual(n.command, ["node", "a b.js"]);
  const e = errorAt(parseManifest(withExtra(`  command: "node 'app.js"\n`)), "container.command");
  assert.match(e.message, /unterminated single quote/);
});
