import { CliError } from "./options.ts";

/**
 * Reads one line from a terminal without echoing it (for secret values): raw mode, the
 * prompt on stderr, Backspace edits, Enter ends, Ctrl-C / Ctrl-D abort.
 */
export function promptHidden(prompt: string, input: NodeJS.ReadStream = process.stdin): Promise<string> {
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.resume();
    input.setEncoding("utf8");
    let value = "";
    const done = (err: Error | null) => {
      input.setRawMode(false);
      input.pause();
      input.off("data", onData);
      process.stderr.write("\n");
      if (err === null) resolve(value);
      else reject(err);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done(null);
        if (ch === "\u0003" || ch === "\u0004") return done(new CliError("cancelled; nothing was stored"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else if (ch >= " ") value += ch;
      }
    };
    input.on("data", onData);
  });
}
