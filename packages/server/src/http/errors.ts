import type { FastifyError, FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { ManifestError } from "@roomservice/manifest";

/**
 * Stable machine-readable error codes of the REST API. A client branches on `code`, a person
 * reads `error`. Modelled on Colyseus's `ServerError(code)` and LiveKit's sentinel errors:
 * one type, one place that turns it into a response.
 */
export type ErrorCode =
  | "bad_request" | "invalid_manifest" | "invalid_room_name" | "unauthenticated" | "forbidden" | "csrf"
  | "not_found" | "room_not_found" | "conflict" | "no_session" | "session_ended" | "payload_too_large" | "internal";

/** The one error type of the REST layer: a status, a stable code and a message people can act on. */
export class RoomserviceError extends Error {
  override name = "RoomserviceError";
  readonly status: number;
  readonly code: ErrorCode;
  /** Extra JSON fields for the body (e.g. located manifest `errors`). */
  readonly extra: Record<string, unknown> | undefined;

  constructor(status: number, code: ErrorCode, message: string, extra?: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

export const badRequest = (message: string, extra?: Record<string, unknown>) => new RoomserviceError(400, "bad_request", message, extra);
export const notFound = (message: string) => new RoomserviceError(404, "not_found", message);
export const conflict = (message: string) => new RoomserviceError(409, "conflict", message);

/**
 * Located errors as the API shows them (manifests and request bodies alike): field path,
 * message, expected, what was given (`got`; `received` is the same, the manifest package's
 * name for it) and, when parsed from text, the 1-based line and column (absent when unknown).
 */
export function manifestErrorsJson(errors: readonly ManifestError[]): Record<string, unknown>[] {
  return errors.map((e) => ({
    path: e.path, message: e.message, expected: e.expected, got: e.received, received: e.received,
    ...(e.line === undefined ? {} : { line: e.line, column: e.column ?? 1 }),
  }));
}

/** 1048576 → "1 MiB (1048576 bytes)". */
export function formatBytes(n: number): string {
  const units = [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const;
  for (const [u, size] of units) if (n >= size && n % (size / 16) === 0) return `${n / size} ${u} (${n} bytes)`;
  return `${n} bytes`;
}

/** The error body every route answers with: `{error, code, ...extra}`. */
export function errorBody(e: RoomserviceError): Record<string, unknown> {
  return { error: e.message, code: e.code, ...e.extra };
}

/**
 * Installs the one error handler: RoomserviceError → its status and body; Fastify's own
 * client errors (bad JSON, body too large, wrong content type) keep their 4xx with a code;
 * anything else is a 500 whose details go to the log, never to the client (no stack traces).
 */
export function installErrorHandler(app: FastifyInstance, log: Logger, bodyLimit: { bytes: number; setting: string }): void {
  app.setErrorHandler((err: FastifyError | RoomserviceError, req, reply) => {
    if (err instanceof RoomserviceError) {
      if (err.status === 401) void reply.header("www-authenticate", "Bearer");
      return reply.code(err.status).send(errorBody(err));
    }
    const status = typeof err.statusCode === "number" ? err.statusCode : 500;
    if (status === 413) {
      // Say the limit, and what raises it when it is the configurable one (not a route's own).
      const limit = req.routeOptions.bodyLimit ?? bodyLimit.bytes;
      const raise = limit === bodyLimit.bytes ? `; raise it with ${bodyLimit.setting}` : "";
      return reply.code(413).send({ error: `request body is too large: the limit is ${formatBytes(limit)}${raise}`, code: "payload_too_large", limit_bytes: limit });
    }
    if (status >= 400 && status < 500) {
      const code: ErrorCode = status === 413 ? "payload_too_large" : status === 404 ? "not_found" : "bad_request";
      return reply.code(status).send({ error: err.message, code });
    }
    log.error({ err, method: req.method, url: req.url.split("?")[0] }, "request failed");
    return reply.code(500).send({ error: "internal server error (details in the server log)", code: "internal" });
  });
}
