import { Command, CommanderError } from "commander";
import { CliError } from "./options.ts";

type Register = (program: Command) => void;

/**
 * One file per command group under commands/; each registers itself on the program. Only the
 * group being run is loaded, so `room logs` does not pay for loading the server, Docker
 * client and manifest schema (the top-level --help loads them all for their descriptions).
 */
const groups: Record<string, () => Promise<Register>> = {
  serve: async () => (await import("./commands/serve.ts")).registerServe,
  token: async () => (await import("./commands/token.ts")).registerToken,
  service: async () => (await import("./commands/service.ts")).registerService,
  secret: async () => (await import("./commands/secret.ts")).registerSecret,
  room: async () => (await import("./commands/room.ts")).registerRoom,
  apikey: async () => (await import("./commands/apikey.ts")).registerApiKey,
  "login-link": async () => (await import("./commands/login-link.ts")).registerLoginLink,
  llm: async () => (await import("./commands/llm.ts")).registerLlm,
  image: async () => (await import("./commands/image.ts")).registerImage,
  test: async () => (await import("./commands/test.ts")).registerTest,
};

/**
 * A reader that closes early (`roomservice service list | head -1`) is not an error: exit
 * quietly with 0 as git and ls do, for every command at once, instead of an unhandled EPIPE
 * stack trace from whichever write came next. Other stdout errors are still reported.
 */
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

const program = new Command();
program
  .name("roomservice")
  .description("Self-hostable room server speaking MeshAgent's protocol")
  .showHelpAfterError()
  .exitOverride();

try {
  const first = process.argv.slice(2).find((a) => !a.startsWith("-"));
  const chosen = first !== undefined && Object.hasOwn(groups, first) ? [groups[first]!] : Object.values(groups);
  for (const load of chosen) (await load())(program);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof CliError) {
    process.stderr.write(`roomservice: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
