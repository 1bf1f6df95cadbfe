import { CliError } from "../options.ts";
import type { ApiClient } from "./client.ts";

/** One Server-Sent Event (WHATWG HTML "event stream interpretation"). */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/**
 * Incremental parser for `text/event-stream`: feed it decoded text, get whole events.
 * Comments (`: ping`) are skipped; `retry:` is ignored (the follower has its own backoff).
 */
export class SseParser {
  private buf = "";
  private id: string | null = null;
  private event = "";
  private data: string[] = [];

  push(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + (this.buf.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (this.data.length > 0) out.push({ id: this.id, event: this.event || "message", data: this.data.join("\n") });
        this.event = "";
        this.data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") this.data.push(value);
      else if (field === "event") this.event = value;
      else if (field === "id") this.id = value;
    }
    return out;
  }
}

export interface FollowOptions {
  /** Called for every event; the parsed JSON data is passed along. */
  onEvent(name: string, data: unknown): void;
  /** Status lines for the person watching (reconnecting, dropped...). */
  onStatus(message: string): void;
  signal: AbortSignal;
  /**
   * The command already reached this server (e.g. it read the room's state first). Then a
   * connection failure before the stream's first answer is a server going away, retried like
   * a drop, rather than "no server here" (which stops the command).
   */
  reachedBefore?: boolean;
  /** Called once, when the stream first answers: the follower is attached from here on. */
  onAttached?: () => void;
}

/**
 * Follows an SSE route until `signal` aborts. When the stream ends or the server drops this
 * client, it reconnects with `Last-Event-ID` so nothing still buffered server-side is missed;
 * while the server does not answer it retries every 1-5 s and says so once.
 */
export async function followSse(client: ApiClient, path: string, o: FollowOptions): Promise<void> {
  let lastId: string | null = null;
  let delay = 1000;
  let announced = false;
  let connectedOnce = o.reachedBefore ?? false;
  let attached = false;
  while (!o.signal.aborted) {
    let res: Response;
    try {
      res = await client.fetch("GET", path, { headers: { accept: "text/event-stream", ...(lastId === null ? {} : { "last-event-id": lastId }) }, signal: o.signal });
    } catch (err) {
      if (o.signal.aborted) return;
      if (!(err instanceof CliError) || !connectedOnce) throw err; // never connected: say so and stop
      if (!announced) o.onStatus(`the server stopped answering (${err.message.split("\n")[0]}); retrying…`);
      announced = true;
      await sleep(delay, o.signal);
      delay = Math.min(delay * 2, 5000);
      continue;
    }
    if (res.status === 401 && connectedOnce && client.reloadKey()) {
      await res.body?.cancel(); // the server restarted with a new key: use it
      continue;
    }
    if (!res.ok) throw client.httpError("GET", path, res.status, await res.text());
    connectedOnce = true;
    if (!attached) o.onAttached?.();
    attached = true;
    if (announced) o.onStatus("reconnected");
    announced = false;
    delay = 1000;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const e of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (e.id !== null) lastId = e.id;
          let data: unknown = e.data;
          try {
            data = JSON.parse(e.data);
          } catch {
            // not JSON: pass the text
          }
          if (e.event === "dropped") o.onStatus(`the server dropped this stream (${(data as { reason?: string })?.reason ?? "no reason given"}); reconnecting…`);
          else o.onEvent(e.event, data);
        }
      }
    } catch (err) {
      if (o.signal.aborted) return;
      void err; // connection cut: reconnect below
    }
    if (o.signal.aborted) return;
    o.onStatus("the stream ended; reconnecting…");
    await sleep(delay, o.signal);
  }
}

/** Resolves after `ms` or at abort; the abort listener goes away either way (one per reconnect otherwise piled up on the follower's signal). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
