import type { Command } from "commander";
import { CliError } from "../options.ts";

/**
 * `roomservice test` is run by bin/roomservice itself (scripts/test.sh installs what the
 * suite needs before Node may even exist); it is registered here so that `--help` lists it
 * and `test --help` explains it instead of running the suite.
 */
export function registerTest(program: Command): void {
  program
    .command("test")
    .description("run the whole test suite: typecheck, then every packages/*/test file (installs Node 24, npm packages and, as root, Docker on first use)")
    .allowUnknownOption()
    .helpOption("-h, --help", "show this help (the suite does not run)")
    .action(() => {
      throw new CliError('run the suite through bin/roomservice ("bin/roomservice test"): it installs what the tests need first');
    });
}
