/** Bytes of a non-streaming response kept to read its `usage` object; larger bodies are not parsed. */
const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** Longest SSE line kept while waiting for its end; longer lines are skipped, never buffered. */
const MAX_LINE_BYTES = 1024 * 1024;

/** Token counts as OpenAI-compatible APIs report them (`usage.prompt_tokens`, `completion_tokens`). */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * Reads token usage out of a response as it streams by, in bounded memory: from the
 * `usage` object of a JSON body (chat completions, embeddings), or from the SSE `data:`
 * chunk that carries it in a streamed completion (sent when the caller asked for
 * `stream_options: {include_usage: true}`; without it a stream has no usage to count).
 */
export class UsageScanner {
  private json: Buffer[] | null = [];
  private jsonBytes = 0;
  private line = "";
  private lineOverflow = false;
  private found: TokenUsage | null = null;
  private readonly decoder = new TextDecoder();

  push(chunk: Buffer): void {
    if (this.json !== null) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes > MAX_JSON_BYTES) this.json = null;
      else this.json.push(chunk);
    }
    const text = this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", start)) {
      this.onLine(this.lineOverflow ? "" : this.line + text.slice(start, i));
      this.line = "";
      this.lineOverflow = false;
      start = i + 1;
    }
    if (!this.lineOverflow) {
      this.line += text.slice(start);
      if (this.line.length > MAX_LINE_BYTES) {
        this.line = "";
        this.lineOverflow = true;
      }
    }
  }

  private onLine(line: string): void {
    if (!line.startsWith("data:") || !line.includes("\"usage\"")) return;
    this.take(line.slice(5).trim());
  }

  private take(text: string): void {
    try {
      const u = (JSON.parse(text) as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null }).usage;
      if (u !== null && typeof u === "object") {
        this.found = {
          promptTokens: typeof u.prompt_tokens === "number" ? u.prompt_tokens : 0,
          completionTokens: typeof u.completion_tokens === "number" ? u.completion_tokens : 0,
        };
      }
    } catch {
      // not JSON (or cut): no usage from this piece
    }
  }

  /** What was found so far; zeros when the response carried no usage. */
  usage(): TokenUsage {
    if (this.found === null && this.json !== null && this.jsonBytes > 0) {
      this.take(Buffer.concat(this.json).toString("utf8"));
      this.json = null;
    }
    return this.found ?? { promptTokens: 0, completionTokens: 0 };
  }
}
