/**
 * Turning `container.command` into an argv.
 *
 * MeshAgent writes the command as one string (`command: python -m app --port 8000`).
 * Roomservice does **not** hand that string to a shell: images are often built `FROM scratch`
 * with no /bin/sh at all, and a shell as PID 1 swallows the stop signal. Instead the string is
 * split the way a POSIX shell splits words — whitespace separates arguments, '…' and "…"
 * quote, backslash escapes — and the result is executed directly.
 *
 * A string that only makes sense to a shell (`a && b`, `x | y`, `$HOME`, `> log`,
 * `FOO=1 cmd`) cannot be split faithfully. Such a command is run as `/bin/sh -c <command>`
 * instead, and the caller reports a warning: it works when the image has a shell, and the
 * warning tells the author to write an argv list to avoid depending on one.
 */

export type CommandAnalysis =
  /** Plain words: run this argv directly. */
  | { kind: "argv"; argv: string[] }
  /**
   * Needs a shell; `argv` is `["/bin/sh", "-c", script]`, `reason` names the construct.
   * `execLast`: the script is the command with `exec` put before its last simple command (see
   * {@link execLastCommand}), so that program replaces the shell and receives the stop signal.
   */
  | { kind: "shell"; argv: string[]; reason: string; execLast: boolean }
  /** Cannot be parsed at all (an unterminated quote). */
  | { kind: "invalid"; message: string };

/** Raised by {@link splitCommand}. */
export class CommandSyntaxError extends Error {
  override name = "CommandSyntaxError";
}

const OPERATOR_CHARS = new Set(["|", "&", ";", "<", ">", "(", ")"]);
const WHITESPACE = new Set([" ", "\t", "\r"]);
const ASSIGNMENT_RE = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * Splits a command line into words like a POSIX shell would, without running one. Returns
 * `undefined` for an empty command (meaning: keep the image's default command).
 */
export function analyzeCommand(command: string): CommandAnalysis | undefined {
  const text = command.trim();
  if (text === "") return undefined;
  const shell = (reason: string): CommandAnalysis => {
    const script = execLastCommand(text);
    return { kind: "shell", argv: ["/bin/sh", "-c", script ?? text], reason, execLast: script !== null };
  };

  const words: string[] = [];
  let word = "";
  let inWord = false; // distinguishes "" (an empty argument) from no argument
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (WHITESPACE.has(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
      continue;
    }
    if (c === "\n") return shell("a line break (separates commands in a shell)");
    if (OPERATOR_CHARS.has(c)) {
      const op = text.slice(i, i + 2) === c + c ? c + c : c;
      return shell(`the operator "${op}"`);
    }
    if (c === "$") return shell(`the variable or substitution "${text.slice(i, i + 12).split(/\s/)[0]}"`);
    if (c === "`") return shell("a `command substitution`");
    if (!inWord && c === "#") return shell(`a "#" comment`);
    if (!inWord && c === "~") return shell(`the home directory "~"`);
    if (c === "\\") {
      if (i + 1 >= text.length) return { kind: "invalid", message: "the command ends with a lone backslash" };
      const next = text[i + 1];
      // backslash-newline is a line continuation: both characters disappear
      if (next !== "\n") word += next;
      inWord = true;
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { kind: "invalid", message: `unterminated single quote starting at character ${i + 1}` };
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let closed = false;
      while (j < text.length) {
        const d = text[j];
        if (d === '"') {
          closed = true;
          break;
        }
        if (d === "$") return shell(`the variable or substitution "${text.slice(j, j + 12).split(/[\s"]/)[0]}" inside double quotes`);
        if (d === "`") return shell("a `command substitution` inside double quotes");
        if (d === "\\" && j + 1 < text.length && ['"', "\\", "$", "`", "\n"].includes(text[j + 1])) {
          if (text[j + 1] !== "\n") word += text[j + 1];
          j += 2;
          continue;
        }
        word += d;
        j++;
      }
      if (!closed) return { kind: "invalid", message: `unterminated double quote starting at character ${i + 1}` };
      inWord = true;
      i = j + 1;
      continue;
    }
    word += c;
    inWord = true;
    i++;
  }
  if (inWord) words.push(word);
  // `FOO=1 cmd` sets a variable for cmd in a shell; run directly it would try to execute "FOO=1"
  if (words.length > 0 && ASSIGNMENT_RE.test(words[0]) && !/^['"\\]/.test(text)) {
    return shell(`the variable assignment "${words[0]}"`);
  }
  return { kind: "argv", argv: words };
}

/**
 * Splits a command line into argv (see {@link analyzeCommand}); throws
 * {@link CommandSyntaxError} when the line needs a shell or cannot be parsed.
 */
export function splitCommand(command: string): string[] {
  const a = analyzeCommand(command);
  if (a === undefined) return [];
  if (a.kind === "invalid") throw new CommandSyntaxError(a.message);
  if (a.kind === "shell") {
    throw new CommandSyntaxError(`the command uses ${a.reason}, which only a shell understands; write it as ["/bin/sh", "-c", ...] or remove the shell syntax`);
  }
  return a.argv;
}

/** Words that are shell syntax or builtins: `exec` in front of them would break the script. */
const NOT_EXECUTABLE = new Set([
  "cd", "exec", "exit", "export", "set", "unset", "source", ".", "eval", "if", "then", "fi", "for", "while", "until", "do",
  "done", "case", "esac", "{", "}", "!", "true", "false", "read", "wait", "trap", "shift", "return", "local", "alias",
]);

/**
 * For a shell script that is a `&&` chain ending in a simple command (`cd /app && node
 * server.js`, or one command using `$VARS`), the same script with `exec` before that last
 * command; null when the script has any other top-level operator (`|`, `;`, `||`, `&`,
 * redirections, subshells, line breaks) or its last command is a builtin or starts with an
 * assignment. Why: `sh -c` forks the program, so the stop signal would hit the shell, which
 * dies at once and takes the container down before the program's own shutdown ran.
 */
export function execLastCommand(script: string): string | null {
  let lastAnd = -1;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (quote !== null) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"') i++;
      continue;
    }
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === "&" && script[i + 1] === "&") {
      lastAnd = i;
      i++;
    } else if (OPERATOR_CHARS.has(c) || c === "\n" || c === "`" || c === "#") return null;
    else if (c === "$" && script[i + 1] === "(") return null;
  }
  if (quote !== null) return null;
  const head = lastAnd < 0 ? "" : script.slice(0, lastAnd + 2);
  const last = script.slice(lastAnd < 0 ? 0 : lastAnd + 2).trim();
  const first = last.split(/\s/)[0] ?? "";
  if (first === "" || NOT_EXECUTABLE.has(first) || ASSIGNMENT_RE.test(first)) return null;
  return `${head}${head === "" ? "" : " "}exec ${last}`;
}
