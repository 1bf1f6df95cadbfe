import type { Logger } from "pino";

/**
 * Security and resource limits, each a named default that `serve` documents in the README.
 * They bound what one connection can make the server hold in memory or CPU.
 */
export interface Limits {
  /** Largest single WebSocket frame accepted (ws maxPayload). SDK clients send 1 KiB frames. */
  maxFrameBytes: number;
  /** Largest reassembled message accepted from a client. */
  maxMessageBytes: number;
  /** Longest message type string. */
  maxTypeLength: number;
  /** Sustained messages per second per connection (token bucket refill rate). */
  maxMessagesPerSecond: number;
  /** Token bucket size: short bursts above the sustained rate. */
  messageBurst: number;
  /** Outbound bytes buffered for a connection before it is closed as too slow (1008). */
  maxBufferedBytes: number;
  /** Concurrent tool calls (unary + streams) one connection may have in flight. */
  maxPendingToolCalls: number;
  /** Connections per room. */
  maxConnectionsPerRoom: number;
  /**
   * A connection that sent nothing (no frame, no pong) for this long is pinged; one that then
   * answers nothing for `pingTimeoutMs` more is dropped as dead (its process stopped, its TCP
   * path silently broken), so it is gone at most idlePingMs + pingTimeoutMs after it fell
   * silent and the departure timer can run.
   */
  idlePingMs: number;
  pingTimeoutMs: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxMessageBytes: 32 * 1024 * 1024,
  maxTypeLength: 256,
  maxMessagesPerSecond: 2000,
  messageBurst: 4000,
  maxBufferedBytes: 64 * 1024 * 1024,
  maxPendingToolCalls: 256,
  maxConnectionsPerRoom: 2000,
  idlePingMs: 15_000,
  pingTimeoutMs: 15_000,
};

/** Time source, injected so tests and the session state machine never read a global clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

export interface ServerOptions {
  /** This node's own directory (lock, owner id, runtime files); rooms live here too unless `cluster` says otherwise. */
  dataDir: string;
  /** `serve --cluster`: join a cluster of nodes sharing a PostgreSQL database and a storage directory (docs/scaling.md). */
  cluster?: import("./cluster/node.ts").ClusterOptions;
  host?: string;
  port?: number;
  projectId?: string;
  /** Project secret; when absent it is loaded from MESHAGENT_SECRET or the data directory. */
  secret?: string;
  /** How long a room's session outlives its last participant (default 15 s). */
  departureTimeoutMs?: number;
  limits?: Partial<Limits>;
  logger: Logger;
  clock?: Clock;
  /** Built Studio app served at `/` (default packages/studio/dist). */
  studioDir?: string;
  /**
   * The control plane's database: a postgres:// URL (`serve --database`, env
   * ROOMSERVICE_DATABASE_URL) puts services, secrets, API keys, settings, LLM config and
   * session history in PostgreSQL; absent, they stay in `<dataDir>/roomservice.db` (SQLite).
   */
  databaseUrl?: string;
  /** Where databaseUrl came from, named in its error messages (default "the database URL"). */
  databaseUrlSource?: string;
  /**
   * Largest REST request body (a manifest, a secret) in bytes; default
   * DEFAULT_MAX_BODY_BYTES. `serve` takes it from ROOMSERVICE_MAX_BODY_BYTES. Larger bodies
   * answer 413 naming the limit and this setting.
   */
  maxBodyBytes?: number;
  /**
   * The base URL clients reach the server at (`https://rooms.example.com`), used for every URL
   * handed out (connect's room_url, room_ready, download_url). `serve --public-url`, env
   * ROOMSERVICE_PUBLIC_URL. Absent: built from the request's Host header with http/ws.
   */
  publicUrl?: string;
  /** MCP bridge timeouts in ms (connect attempt, retry window, tool call); defaults in mcp/endpoint.ts. */
  mcpTimeouts?: { connectMs?: number; connectRetryForMs?: number; callMs?: number };
}

export const DEFAULT_DEPARTURE_TIMEOUT_MS = 15_000;
/** The REST API's request body limit (ServerOptions.maxBodyBytes): manifests and secrets are small. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** The setting that raises the REST body limit, named in 413 answers. */
export const MAX_BODY_SETTING = "ROOMSERVICE_MAX_BODY_BYTES (environment of `roomservice serve`)";
export const DEFAULT_PORT = 8080;
/**
 * Loopback by default (security by default, and `serve` then prints Studio's one-click
 * sign-in link); `--host 0.0.0.0` exposes the server. Services never need the public address:
 * they reach the Room API inside their room's own namespace.
 */
export const DEFAULT_HOST = "127.0.0.1";
