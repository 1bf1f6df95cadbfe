import { CliError } from "../options.ts";
import { normalizeUrl, readAccessFile, type Target } from "./target.ts";

/** The stable part of every message that says no server answered. */
export function noServerMessage(t: Target, cause: string): string {
  return (
    `no Roomservice server answers at ${t.url} (${cause}; URL from ${t.urlFrom}).\n` +
    `Start one with "roomservice serve", or point --url / ROOMSERVICE_URL at the running server.`
  );
}

/**
 * Whether a 404 body means "this server has no such route" (an older server) rather than "no
 * such thing": Roomservice's API scope answers `no such route: …`, Fastify's default
 * `Route GET:/… not found`.
 */
export function isMissingRoute(body: string): boolean {
  return /"(error|message)":"(no such route: |Route \w+:[^"]* not found)/.test(body);
}

function causeOf(err: unknown): string {
  const c = (err as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? (err as Error).message;
}

/**
 * A small REST client for the server's documented API (docs/studio-api.md, README's REST
 * table). Every failure becomes a CliError that names the URL, the status and the server's
 * own message, so no command prints a stack trace for a server-side refusal.
 */
export class ApiClient {
  target: Target;
  private readonly project: string;

  constructor(target: Target) {
    this.target = target;
    this.project = target.project ?? "default";
  }

  /** Sends one request; 2xx JSON bodies are returned parsed (204 → undefined). */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(method, path, body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!res.ok) throw this.httpError(method, path, res.status, text);
    try {
      return (text.length === 0 ? undefined : JSON.parse(text)) as T;
    } catch {
      throw new CliError(`${method} ${this.target.url}${path}: expected JSON, got ${JSON.stringify(text.slice(0, 200))}`);
    }
  }

  /**
   * `/accounts/projects/{p}`: ROOMSERVICE_PROJECT_ID, the access file's project, else
   * "default" (a wrong one is answered with the project the server hosts).
   */
  async projectBase(): Promise<string> {
    return `/accounts/projects/${encodeURIComponent(this.project)}`;
  }

  /**
   * After a 401: when the key came from the access file and the file now holds another one
   * (a server restarted on the same data directory), use it. True when the key changed.
   */
  reloadKey(): boolean {
    if (this.target.keyFrom !== this.target.accessFile) return false;
    const a = readAccessFile(this.target.accessFile);
    if (a === null || a.api_key === this.target.apiKey || normalizeUrl(a.url, this.target.accessFile) !== this.target.url) return false;
    this.target = { ...this.target, apiKey: a.api_key };
    return true;
  }

  /** Raw fetch with auth; connection failures say which URL did not answer and what to do. */
  async fetch(method: string, path: string, init: { body?: string; headers?: Record<string, string>; signal?: AbortSignal }): Promise<Response> {
    const t = this.target;
    if (t.apiKey === null) await this.explainMissingKey();
    try {
      return await fetch(t.url + path, {
        method,
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
        headers: { authorization: `Bearer ${t.apiKey}`, ...init.headers },
      });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new CliError(noServerMessage(t, causeOf(err)));
    }
  }

  private async explainMissingKey(): Promise<never> {
    const t = this.target;
    // The more useful message first: is anything there at all?
    try {
      await fetch(`${t.url}/healthz`);
    } catch (err) {
      throw new CliError(noServerMessage(t, causeOf(err)));
    }
    throw new CliError(
      `no API key for ${t.url}: pass --api-key or set ROOMSERVICE_API_KEY (create one with "roomservice apikey create --data <server's data dir>").\n` +
        (t.accessFileFound
          ? `${t.accessFile} belongs to the server at another URL, so its key is not sent to ${t.url}.`
          : `A server started with "roomservice serve" writes one for local use to <data dir>/cli-access.json; looked at ${t.accessFile} (pass --data DIR or set ROOMSERVICE_DATA to the server's data directory).`),
    );
  }

  /** Turns a non-2xx answer into a message: what was asked, the status, the server's reason. */
  httpError(method: string, path: string, status: number, text: string): CliError {
    let reason = text.slice(0, 500);
    try {
      const j = JSON.parse(text) as { error?: unknown; message?: unknown };
      // Ours: {error}; Fastify's own (404 route, 400 body): {error: "Not Found", message}.
      if (typeof j.message === "string") reason = j.message;
      else if (typeof j.error === "string") reason = j.error;
    } catch {
      // not JSON: keep the text
    }
    const where = `${this.target.url}${path}`;
    if (status === 401 || status === 403) {
      return new CliError(`the server at ${this.target.url} refused the API key from ${this.target.keyFrom} (${status}: ${reason}); pass a valid one with --api-key or ROOMSERVICE_API_KEY`);
    }
    if (status === 404 && isMissingRoute(text)) {
      return new CliError(`the server at ${this.target.url} has no ${method} ${path.split("?")[0]} route (an older Roomservice?)`);
    }
    return new CliError(`${method} ${where}: ${status} ${reason}`);
  }
}
