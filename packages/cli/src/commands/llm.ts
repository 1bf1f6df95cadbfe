import type { Command } from "commander";
import { CliError } from "../options.ts";
import { table } from "../format.ts";
import { addRemoteOptions, checkRoom, connect } from "../remote/options.ts";
import type { RemoteOpts } from "../remote/target.ts";

interface UpstreamJson {
  configured: boolean;
  base_url: string | null;
  api_key_secret: string | null;
  updated_at: string | null;
}

interface UsageJson {
  room: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  last_used_at: string;
}

/**
 * `roomservice llm set|show|clear|usage`: the upstream behind the LLM proxy that services
 * reach at `$MESHAGENT_API_URL/openai/v1` with their own token. The provider's key is a
 * project secret (`roomservice secret set NAME`) named here, never passed on the command line.
 * Like every command that manages a server, it talks to the running one (`/llm` REST routes).
 */
export function registerLlm(program: Command): void {
  const llm = program.command("llm").description("the LLM proxy's upstream (OpenAI-compatible) and its usage per room, on the running server");
  addRemoteOptions(llm.command("set").description("forward $MESHAGENT_API_URL/openai/v1 to an OpenAI-compatible API; applies to the next request"))
    .requiredOption("--base-url <url>", "the upstream's base URL, e.g. https://api.openai.com/v1")
    .option("--api-key-secret <name>", "project secret holding the upstream's API key (roomservice secret set NAME)")
    .action(async (o: RemoteOpts & { baseUrl: string; apiKeySecret?: string }) => {
      let url: URL;
      try {
        url = new URL(o.baseUrl);
      } catch {
        throw new CliError(`--base-url: expected an http(s) URL such as https://api.openai.com/v1, got ${JSON.stringify(o.baseUrl)}`);
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`--base-url: expected http or https, got ${url.protocol}`);
      if (url.username !== "" || url.password !== "") throw new CliError("--base-url: no credentials in the URL; put the key in a secret and pass --api-key-secret NAME");
      const c = connect(o);
      const u = await c.request<UpstreamJson>("PUT", `${await c.projectBase()}/llm`, { base_url: o.baseUrl, api_key_secret: o.apiKeySecret ?? null });
      process.stdout.write(`llm upstream: ${u.base_url}${u.api_key_secret === null ? " (no key)" : ` (key from secret ${u.api_key_secret})`}\nservices reach it at $MESHAGENT_API_URL/openai/v1 with their MESHAGENT_TOKEN\n`);
    });
  addRemoteOptions(llm.command("show").description("the configured upstream (the key is never shown)"))
    .action(async (o: RemoteOpts) => {
      const c = connect(o);
      const u = await c.request<UpstreamJson>("GET", `${await c.projectBase()}/llm`);
      process.stdout.write(!u.configured ? "no llm upstream configured (roomservice llm set --base-url URL --api-key-secret NAME)\n"
        : `base url: ${u.base_url}\nkey secret: ${u.api_key_secret ?? "(none)"}\nupdated: ${u.updated_at}\n`);
    });
  addRemoteOptions(llm.command("clear").description("remove the upstream (services then get 503 from the proxy)"))
    .action(async (o: RemoteOpts) => {
      const c = connect(o);
      const path = `${await c.projectBase()}/llm`;
      const before = await c.request<UpstreamJson>("GET", path);
      await c.request("DELETE", path);
      process.stdout.write(before.configured ? `llm upstream removed (was ${before.base_url})\n` : "no llm upstream was configured; nothing removed\n");
    });
  addRemoteOptions(llm.command("usage").description("requests and tokens per room"))
    .option("--room <room>", "one room only")
    .option("--json", "JSON output")
    .action(async (o: RemoteOpts & { room?: string; json?: boolean }) => {
      const c = connect(o);
      const q = o.room === undefined ? "" : `?room=${encodeURIComponent(checkRoom(o.room, "--room"))}`;
      const { usage } = await c.request<{ usage: UsageJson[] }>("GET", `${await c.projectBase()}/llm/usage${q}`);
      if (o.json === true) return void process.stdout.write(JSON.stringify(usage, null, 2) + "\n");
      if (usage.length === 0) return void process.stdout.write("no LLM usage recorded\n");
      process.stdout.write(table(["ROOM", "REQUESTS", "ERRORS", "PROMPT", "COMPLETION", "LAST USED"],
        usage.map((r) => [r.room, String(r.requests), String(r.errors), String(r.prompt_tokens), String(r.completion_tokens), r.last_used_at])));
    });
}
