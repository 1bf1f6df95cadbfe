import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "pino";
import type { Clock } from "../config.ts";

/** The PostgreSQL channel configuration changes are announced on. */
export const CONFIG_CHANNEL = "roomservice_config";

/** The listening connection is queried every 5 s and must answer within 5 s. */
export const LIVENESS_CHECK = { intervalMs: 5_000, timeoutMs: 5_000 };

/**
 * A configuration change as announced to every node. `scope` is the REST path family that
 * changed (`services`, `secrets`, `api-keys`, `rooms`, `llm`, …), `path` the request path;
 * `kind: "resync"` means this node may have missed announcements (its listening connection
 * dropped) and must drop every cache.
 */
export type ConfigChange =
  | { kind: "change"; scope: string; path: string; method: string; from: string }
  | { kind: "resync"; from: string };

/**
 * Configuration changes reach every node at once through PostgreSQL LISTEN/NOTIFY (issue 11
 * §2). One dedicated connection listens (a pooled one cannot: LISTEN is per session); if it
 * drops, or stops answering its periodic liveness query (a silently dropping network), it
 * reconnects with backoff (0.5 s doubling to 10 s) and emits a `resync`, since NOTIFYs sent
 * meanwhile are lost: listeners reload everything they cache.
 * Payloads carry no secret values: only which path changed.
 */
export class ConfigBus extends EventEmitter<{ change: [ConfigChange] }> {
  private readonly o: {
    databaseUrl: string; nodeId: string; logger: Logger; clock: Clock; pool: pg.Pool;
    /**
     * The listening connection's liveness check: a query on it every `intervalMs`, which must
     * answer within `timeoutMs` (default LIVENESS_CHECK). A network that drops packets without
     * a reset leaves a LISTEN connection that looks open and never hears a notification; the
     * check finds it and the bus reconnects (and emits `resync`).
     */
    liveness?: { intervalMs: number; timeoutMs: number };
  };
  private client: pg.Client | null = null;
  private state: "idle" | "listening" | "reconnecting" | "closed" = "idle";
  private retry: { cancel(): void } | null = null;
  private check: { cancel(): void } | null = null;

  constructor(o: ConfigBus["o"]) {
    super();
    this.o = o;
  }

  /** Connects and LISTENs; resolves once listening (the first connection must succeed). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    // Connecting is bounded too: a reconnect into the same black hole must fail and back off.
    const client = new pg.Client({ connectionString: this.o.databaseUrl, connectionTimeoutMillis: 2 * (this.o.liveness ?? LIVENESS_CHECK).timeoutMs });
    client.on("error", (err) => this.dropped(client, err));
    client.on("end", () => this.dropped(client, new Error("connection ended")));
    client.on("notification", (n) => {
      if (n.channel !== CONFIG_CHANNEL || n.payload === undefined) return;
      try {
        this.emit("change", JSON.parse(n.payload) as ConfigChange);
      } catch {
        this.o.logger.warn({ payload: n.payload.slice(0, 200) }, "ignoring a malformed configuration notification");
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CONFIG_CHANNEL}`);
    } catch (err) {
      // A connection that came up but could not LISTEN would otherwise stay open, one per retry.
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.state === "closed") {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    const wasReconnecting = this.state === "reconnecting";
    this.state = "listening";
    this.scheduleCheck(client);
    if (wasReconnecting) this.emit("change", { kind: "resync", from: this.o.nodeId });
  }

  /** Queries the listening connection every interval; no answer in time counts as a dropped connection. */
  private scheduleCheck(client: pg.Client): void {
    const { intervalMs, timeoutMs } = this.o.liveness ?? LIVENESS_CHECK;
    this.check = this.o.clock.setTimeout(() => {
      if (this.client !== client) return;
      client.query({ text: "SELECT 1", query_timeout: timeoutMs } as pg.QueryConfig).then(
        () => this.scheduleCheck(client),
        (err: Error) => this.dropped(client, new Error(`liveness check failed: ${err.message}`)),
      );
    }, intervalMs);
  }

  private dropped(client: pg.Client, err: Error): void {
    if (this.client !== client || this.state === "closed") return;
    this.client = null;
    this.state = "reconnecting";
    this.check?.cancel();
    this.o.logger.warn({ err: err.message }, "configuration listener lost its database connection; reconnecting");
    // A connection whose check hangs is torn down, not ended politely (pg destroys the socket).
    client.end().catch(() => undefined);
    this.scheduleReconnect(500);
  }

  private scheduleReconnect(ms: number): void {
    this.retry = this.o.clock.setTimeout(() => {
      this.connect().catch((err: Error) => {
        this.o.logger.warn({ err: err.message }, "configuration listener could not reconnect");
        this.scheduleReconnect(Math.min(ms * 2, 10_000));
      });
    }, ms);
  }

  /** Announces a change to every node (this one included). */
  async publish(change: Omit<Extract<ConfigChange, { kind: "change" }>, "from" | "kind">): Promise<void> {
    const payload: ConfigChange = { kind: "change", ...change, from: this.o.nodeId };
    await this.o.pool.query("SELECT pg_notify($1, $2)", [CONFIG_CHANNEL, JSON.stringify(payload)]);
  }

  async close(): Promise<void> {
    this.state = "closed";
    this.retry?.cancel();
    this.check?.cancel();
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}
