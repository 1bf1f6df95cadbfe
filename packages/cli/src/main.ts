import { Command, CommanderError } from "commander";
import { registerServe } from "./commands/serve.ts";
import { registerToken } from "./commands/token.ts";
import { registerService } from "./commands/service.ts";
import { registerSecret } from "./commands/secret.ts";
import { registerImage } from "./commands/image.ts";
import { registerRoom } from "./commands/room.ts";
import { registerLlm } from "./commands/llm.ts";
import { CliError } from "./options.ts";

/** One file per command group under commands/; each registers itself on the program. */
const program = new Command();
program
  .name("roomservice")
  .description("Self-hostable room server speaking MeshAgent's protocol")
  .showHelpAfterError()
  .exitOverride();
registerServe(program);
registerToken(program);
registerService(program);
registerSecret(program);
registerImage(program);
registerRoom(program);
registerLlm(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof CliError) {
    process.stderr.write(`roomservice: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
