/**
 * A minimal Docker Engine API client: plain HTTP over the unix socket with node:http.
 * Why not dockerode (yet): the endpoints used here fit in one small file; issue 12 asks to
 * prefer the kept libraries, which is still open (docs/decisions.md).
 */
import http from "node:http";
import type { Readable } from "node:stream";

/** Pinned so behaviour doesn't change under us; 1.41 is Docker 20.10 (Debian 12's docker.io). */
export const DOCKER_API_VERSION = "v1.41";
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";

export class DockerError extends Error {
  override name = "DockerError";
  readonly status: number;
  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

export interface DockerRequest {
  method: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Raw body stream (e.g. a tar build context); sent with `contentType`. */
  stream?: Readable;
  contentType?: string;
  signal?: AbortSignal;
  /**
   * Long-lived requests (log follow, wait) get their own connection: on the pooled agent they
   * would each pin one of its sockets for a container's whole life and starve short calls.
   */
  long?: boolean;
}

export class DockerEngine {
  readonly socketPath: string;
  private readonly agent: http.Agent;

  constructor(socketPath: string = DEFAULT_DOCKER_SOCKET) {
    this.socketPath = socketPath;
    // keepAlive agents unref idle sockets, so an idle client never holds the process open.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  }

  close(): void {
    this.agent.destroy();
  }

  /** Resolves with the response stream; rejects with DockerError on status >= 400. */
  async raw(r: DockerRequest): Promise<http.IncomingMessage> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(r.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const path = `/${DOCKER_API_VERSION}${r.path}${qs.size > 0 ? `?${qs}` : ""}`;
    const headers: Record<string, string> = {};
    let payload: Buffer | undefined;
    if (r.body !== undefined) {
      payload = Buffer.from(JSON.stringify(r.body));
      headers["content-type"] = "application/json";
      headers["content-length"] = String(payload.length);
    } else if (r.stream !== undefined) {
      headers["content-type"] = r.contentType ?? "application/octet-stream";
    }
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path, method: r.method, headers, agent: r.long === true ? false : this.agent, signal: r.signal }, resolve);
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT" || err.code === "ECONNREFUSED" || err.code === "EACCES") {
          reject(new DockerError(`cannot reach Docker at ${this.socketPath} (${err.code}): start dockerd, or run as a user allowed to use the socket`, 0, { cause: err }));
        } else reject(err);
      });
      if (r.stream !== undefined) {
        r.stream.on("error", (err) => req.destroy(err));
        r.stream.pipe(req);
      } else req.end(payload);
    });
    if ((res.statusCode ?? 500) >= 400) {
      const text = await readAll(res);
      let message = text.toString("utf8").trim();
      try {
        message = (JSON.parse(message) as { message?: string }).message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new DockerError(`docker ${r.method} ${r.path}: ${res.statusCode} ${message}`, res.statusCode ?? 500);
    }
    return res;
  }

  /**
   * Attaches to a container's stdout/stderr (before it starts, so nothing is missed): the
   * raw multiplexed bytes as the process writes them. Unlike the logs endpoint this is not
   * read back from the json-file log, which cuts lines at 16 KiB and replaces a UTF-8
   * sequence split by that cut with U+FFFD. Ends when the container's streams close.
   */
  attach(id: string): Promise<Readable> {
    const path = `/${DOCKER_API_VERSION}/containers/${id}/attach?stream=1&stdout=1&stderr=1`;
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socketPath, path, method: "POST", agent: false, headers: { connection: "Upgrade", upgrade: "tcp" } });
      // Docker answers 101 and hands over the connection (a "hijacked" stream).
      req.on("upgrade", (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on("response", (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          void readAll(res).then((b) => reject(new DockerError(`docker POST /containers/${id}/attach: ${res.statusCode} ${b.toString("utf8").trim()}`, res.statusCode ?? 500)));
        } else resolve(res);
      });
      req.on("error", reject);
      req.end();
    });
  }

  /** A request whose response is JSON (or empty). */
  async json<T = unknown>(r: DockerRequest): Promise<T> {
    const res = await this.raw(r);
    const text = (await readAll(res)).toString("utf8");
    return (text.trim() === "" ? undefined : JSON.parse(text)) as T;
  }

  async ping(timeoutMs = 2000): Promise<boolean> {
    try {
      const res = await this.raw({ method: "GET", path: "/_ping", signal: AbortSignal.timeout(timeoutMs) });
      return (await readAll(res)).toString("utf8") === "OK";
    } catch {
      return false;
    }
  }
}

export function readAll(s: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

/**
 * Splits Docker's JSON-lines progress streams (/build, /images/create) into objects.
 * Lines may arrive split across chunks, so buffer until newline.
 */
export async function* jsonLines(s: Readable): AsyncGenerator<Record<string, unknown>> {
  let buf = "";
  // stream: true keeps a multi-byte character split across chunks intact.
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of s) {
    buf += decoder.decode(chunk as Buffer, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line !== "") yield JSON.parse(line) as Record<string, unknown>;
    }
  }
  buf += decoder.decode();
  if (buf.trim() !== "") yield JSON.parse(buf) as Record<string, unknown>;
}
