import type { Command } from "commander";
import { LlmStore } from "@roomservice/server";
import { CliError } from "../options.ts";
import { openLocalStores, DATA_OPTION } from "./common.ts";

/**
 * `roomservice llm set|show|clear|usage`: the upstream behind the LLM proxy that services
 * reach at `$MESHAGENT_API_URL/openai/v1` with their own token. The provider's key is a
 * project secret (`roomservice secret set NAME`) named here, never passed on the command line.
 */
export function registerLlm(program: Command): void {
  const llm = program.command("llm").description("the LLM proxy's upstream (OpenAI-compatible) and its usage per room");
  llm
    .command("set")
    .description("forward $MESHAGENT_API_URL/openai/v1 to an OpenAI-compatible API; applies to the next request")
    .requiredOption("--base-url <url>", "the upstream's base URL, e.g. https://api.openai.com/v1")
    .option("--api-key-secret <name>", "project secret holding the upstream's API key (roomservice secret set NAME)")
    .option(...DATA_OPTION)
    .action((o: { baseUrl: string; apiKeySecret?: string; data?: string }) => {
      let url: URL;
      try {
        url = new URL(o.baseUrl);
      } catch {
        throw new CliError(`--base-url: expected an http(s) URL such as https://api.openai.com/v1, got ${JSON.stringify(o.baseUrl)}`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`--base-url: expected http or https, got ${url.protocol}`);
      if (url.username !== "" || url.password !== "") throw new CliError("--base-url: no credentials in the URL; put the key in a secret and pass --api-key-secret NAME");
      const s = openLocalStores(o.data);
      try {
        if (o.apiKeySecret !== undefined && s.secrets.findByName(s.project, null, o.apiKeySecret) === undefined) {
          throw new CliError(`--api-key-secret: project secret ${JSON.stringify(o.apiKeySecret)} does not exist in ${s.dataDir}; create it first: roomservice secret set ${o.apiKeySecret}`);
        }
        const u = new LlmStore(s.store).setUpstream(s.project, { baseUrl: url.toString().replace(/\/+$/, ""), apiKeySecret: o.apiKeySecret ?? null }, Date.now());
        process.stdout.write(`llm upstream: ${u.baseUrl}${u.apiKeySecret === null ? " (no key)" : ` (key from secret ${u.apiKeySecret})`}\nservices reach it at $MESHAGENT_API_URL/openai/v1 with their MESHAGENT_TOKEN\n`);
      } finally {
        s.close();
      }
    });
  llm
    .command("show")
    .description("the configured upstream (the key is never shown)")
    .option(...DATA_OPTION)
    .action((o: { data?: string }) => {
      const s = openLocalStores(o.data);
      try {
        const u = new LlmStore(s.store).getUpstream(s.project);
        process.stdout.write(u === undefined ? "no llm upstream configured (roomservice llm set --base-url URL --api-key-secret NAME)\n"
          : `base url: ${u.baseUrl}\nkey secret: ${u.apiKeySecret ?? "(none)"}\nupdated: ${new Date(u.updatedAt).toISOString()}\n`);
      } finally {
        s.close();
      }
    });
  llm
    .command("clear")
    .description("remove the upstream (services then get 503 from the proxy)")
    .option(...DATA_OPTION)
    .action((o: { data?: string }) => {
      const s = openLocalStores(o.data);
      try {
        process.stdout.write(new LlmStore(s.store).clearUpstream(s.project) ? "llm upstream removed\n" : "no llm upstream was configured\n");
      } finally {
        s.close();
      }
    });
  llm
    .command("usage")
    .description("requests and tokens per room")
    .option("--room <room>", "one room only")
    .option("--json", "JSON output")
    .option(...DATA_OPTION)
    .action((o: { room?: string; json?: boolean; data?: string }) => {
      const s = openLocalStores(o.data);
      try {
        const rows = new LlmStore(s.store).usage(s.project, o.room);
        if (o.json === true) {
          process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
          return;
        }
        if (rows.length === 0) {
          process.stdout.write("no LLM usage recorded\n");
          return;
        }
        process.stdout.write("ROOM                 REQUESTS  ERRORS  PROMPT  COMPLETION  LAST USED\n");
        for (const r of rows) {
          process.stdout.write(`${r.room.padEnd(20)} ${String(r.requests).padStart(8)}  ${String(r.errors).padStart(6)}  ${String(r.promptTokens).padStart(6)}  ${String(r.completionTokens).padStart(10)}  ${new Date(r.lastUsedAt).toISOString()}\n`);
        }
      } finally {
        s.close();
      }
    });
}
