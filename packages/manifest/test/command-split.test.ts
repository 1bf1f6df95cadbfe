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
  for (const [cmd, what] of [
    ["a && b", '"&&"'],
    ["a | b", '"|"'],
    ["echo $HOME", "$HOME"],
    ['echo "$HOME"', "$HOME"],
    ["cat < x", '"<"'],
    ["FOO=1 node x", "FOO=1"],
    ["a\nb", "line break"],
  ] as const) {
    const a = analyzeCommand(cmd);
    assert.equal(a?.kind, "shell", cmd);
    if (a?.kind === "shell") {
      assert.ok(a.reason.includes(what), `${cmd}: ${a.reason}`);
      assert.deepEqual(a.argv, ["/bin/sh", "-c", cmd]);
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
  assert.equal(r.warnings[0].line, 7);
  const n = normalizeManifest(r.manifest);
  assert.deepEqual(n.command, ["/bin/sh", "-c", "python -m app && echo done"]);
  assert.equal(n.commandViaShell, true);
});

test("an argv list is used as is; an unterminated quote is an error", () => {
  const n = normalizeManifest(accepted(parseManifest(withExtra('  command: [node, "a b.js"]\n'))).manifest);
  assert.deepEqual(n.command, ["node", "a b.js"]);
  const e = errorAt(parseManifest(withExtra(`  command: "node 'app.js"\n`)), "container.command");
  assert.match(e.message, /unterminated single quote/);
});
