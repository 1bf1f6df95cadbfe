/**
 * `ports[].endpoints[].meshagent {identity, api}`: MeshAgent's webhook-style agent hosts
 * (Python `ServiceHost`/`WebhookServer`, Dart `WebhookServer`). When such a service is running
 * in a session, the room server POSTs a `room.call` webhook to `http://127.0.0.1:<port><path>`
 * inside the room's network namespace, with a token minted for `identity`/`api`; the service
 * then joins the room with that token.
 *
 * Wire format, as MeshAgent's own `send_webhook` and `WebhookServer` (meshagent-api, Python):
 * - body `{"event": "room.call", "data": {"room_name", "room_url", "token", "arguments"}}`,
 *   `Content-Type: application/json`, serialized the way Python's `json.dumps` does (the
 *   receiver re-serializes the parsed body with `json.dumps` and hashes that: see
 *   {@link pythonJsonDumps});
 * - `Meshagent-Signature: Bearer <HS256 JWT {"sha256": hex SHA-256 of the body}>` signed with
 *   the webhook secret, which the service reads from `MESHAGENT_WEBHOOK_SECRET` (injected per
 *   session, never in the container's config: launch-spec.ts).
 *
 * Retries (our choice; MeshAgent's sender does not retry): while the service is running,
 * connection errors and 408/429/5xx answers are retried with exponential backoff (250 ms
 * doubling to 2 s: a starting process is usually seconds from listening) for up to
 * {@link WEBHOOK_RETRY_WINDOW_MS}; other answers end it. The outcome is a service event (`WebhookCalled` / `WebhookFailed`); the token is never logged. A service
 * that restarts (leaves running and comes back) is called again: its earlier connection died
 * with the old process.
 */
import { createHash, createHmac } from "node:crypto";
import { normalizeManifest } from "@roomservice/manifest";
import { checkStoredManifest } from "./stored-manifest.ts";
import type { ServiceConnector, ServiceEvent, ServiceHandle, ServiceRuntimeState } from "@roomservice/runtime";
import type { Logger } from "pino";
import type { ApiScope } from "../auth/scope.ts";
import { defaultApiScope, mintParticipantToken } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import { netnsFetch, type FetchLike } from "../mcp/netns-fetch.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { ServiceLauncher, ServiceStartedEvent } from "./launcher.ts";
import { recordSideEvent } from "./side-events.ts";

/** How long a call is retried while its service starts (ms). */
export const WEBHOOK_RETRY_WINDOW_MS = 60_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 2_000;
/** Each attempt's own limit (ms): an agent host answers the webhook before it joins. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/**
 * The webhook secret of one service in one session: HMAC-SHA256 of the project secret, so it
 * needs no storage, differs per session and service, and reveals nothing about the secret.
 */
export function webhookSecretFor(projectSecret: string, sessionId: string, serviceId: string): string {
  return createHmac("sha256", projectSecret).update(`meshagent-webhook\0${sessionId}\0${serviceId}`).digest("hex");
}

/** Whether a normalized manifest declares a `meshagent` endpoint (then it gets MESHAGENT_WEBHOOK_SECRET). */
export function hasMeshagentEndpoint(m: ReturnType<typeof normalizeManifest>): boolean {
  return m.ports.some((p) => p.endpoints.some((ep) => ep.meshagent !== undefined));
}

/**
 * JSON exactly as Python's `json.dumps(obj)` writes it with default options: `", "` and `": "`
 * separators, non-ASCII (and DEL) escaped as lowercase `\uXXXX` (ensure_ascii), keys in
 * insertion order. Numbers must be integers here (the payload has none else).
 */
export function pythonJsonDumps(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new TypeError(`pythonJsonDumps: only integers are supported, got ${v}`);
    return String(v);
  }
  if (typeof v === "string") return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (Array.isArray(v)) return `[${v.map(pythonJsonDumps).join(", ")}]`;
  if (typeof v === "object") return `{${Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([k, x]) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(x)}`).join(", ")}}`;
  throw new TypeError(`pythonJsonDumps: cannot serialize ${typeof v}`);
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** `Meshagent-Signature` value for a body: `Bearer ` + HS256 JWT `{sha256}` under `secret`. */
export function webhookSignature(body: string, secret: string): string {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const claims = b64url(JSON.stringify({ sha256: createHash("sha256").update(body).digest("hex") }));
  const sig = createHmac("sha256", secret).update(`${head}.${claims}`).digest("base64url");
  return `Bearer ${head}.${claims}.${sig}`;
}

interface Endpoint { port: number; path: string; identity: string; api: ApiScope | undefined }

interface HookedService {
  serviceId: string;
  name: string;
  handle: ServiceHandle;
  endpoints: Endpoint[];
  onState: (s: ServiceRuntimeState) => void;
  /** Set while the service is running: aborted when it leaves running or the session ends. */
  run: AbortController | null;
}

interface RoomHooks {
  room: string;
  sessionId: string;
  connector: ServiceConnector;
  http: { fetch: FetchLike; close(): void };
  services: Map<string, HookedService>;
  events: Map<string, ServiceEvent[]>;
}

export interface AgentWebhooksDeps {
  ctx: ServerContext;
  rooms: RoomManager;
  launcher: ServiceLauncher;
}

/** Calls the `meshagent` endpoints of a session's services (see the file's comment). */
export class AgentWebhooks {
  private readonly d: AgentWebhooksDeps;
  private readonly log: Logger;
  private readonly rooms = new Map<string, RoomHooks>();

  constructor(d: AgentWebhooksDeps) {
    this.d = d;
    this.log = d.ctx.logger.child({ component: "agent-webhooks" });
    d.launcher.serviceStarted.on("started", (e) => this.track(e));
    d.launcher.addEventSource((room, serviceId) => this.rooms.get(room)?.events.get(serviceId) ?? []);
    d.rooms.events.on("event", (e) => {
      if (e.type === "session.ended") this.closeRoom(e.room, e.sessionId);
    });
    d.launcher.stopped.on("stopped", (e) => this.closeRoom(e.room, e.sessionId));
  }

  private track(e: ServiceStartedEvent): void {
    const v = checkStoredManifest(e.record.spec); // names an earlier release stored are kept (stored-manifest.ts)
    if (!v.ok) return; // the launcher reports invalid manifests itself
    const m = normalizeManifest(v.manifest);
    const endpoints: Endpoint[] = m.ports.flatMap((p) => p.endpoints.flatMap((ep) =>
      ep.meshagent === undefined ? [] : [{ port: p.num, path: ep.path, identity: ep.meshagent.identity, api: ep.meshagent.api as ApiScope | undefined }]));
    let rh = this.rooms.get(e.room);
    const old = rh?.services.get(e.record.id);
    if (old !== undefined) this.untrack(rh!, old);
    if (endpoints.length === 0) return;
    if (rh === undefined || rh.sessionId !== e.sessionId) {
      if (rh !== undefined) this.closeRoom(rh.room, rh.sessionId);
      const why = `this runtime (${e.sandbox.constructor.name}) cannot open connections to a service's port`;
      const connector = e.sandbox.openConnector?.(this.log.child({ room: e.room })) ?? { connect: () => Promise.reject(new Error(why)), close: () => {} };
      rh = { room: e.room, sessionId: e.sessionId, connector, http: netnsFetch((port) => connector.connect(port)), services: new Map(), events: new Map() };
      this.rooms.set(e.room, rh);
    }
    const room = rh;
    const svc: HookedService = { serviceId: e.record.id, name: m.name, handle: e.handle, endpoints, run: null, onState: () => {} };
    svc.onState = (s) => {
      if (s.state === "running" && svc.run === null) {
        const run = (svc.run = new AbortController());
        for (const ep of svc.endpoints) void this.call(room, svc, ep, run.signal);
      } else if (s.state !== "running" && s.state !== "unhealthy" && svc.run !== null) {
        svc.run.abort();
        svc.run = null;
      }
    };
    room.services.set(svc.serviceId, svc);
    e.handle.on("state", svc.onState);
    svc.onState(e.handle.status());
  }

  /** One `room.call` to one endpoint, retried while the service starts. */
  private async call(rh: RoomHooks, svc: HookedService, ep: Endpoint, signal: AbortSignal): Promise<void> {
    const { ctx } = this.d;
    const where = `http://127.0.0.1:${ep.port}${ep.path}`;
    const token = await mintParticipantToken(ctx.secret, {
      identity: ep.identity, role: "agent", room: rh.room, api: ep.api ?? defaultApiScope("agent"), projectId: ctx.projectId,
      service: { sessionId: rh.sessionId, serviceId: svc.serviceId }, nowSeconds: Math.floor(ctx.clock.now() / 1000),
    });
    const body = pythonJsonDumps({
      event: "room.call",
      data: { room_name: rh.room, room_url: `ws://127.0.0.1:8078/rooms/${encodeURIComponent(rh.room)}`, token, arguments: {} },
    });
    const headers = {
      "content-type": "application/json",
      "meshagent-signature": webhookSignature(body, webhookSecretFor(ctx.secret, rh.sessionId, svc.serviceId)),
    };
    const deadline = ctx.clock.now() + WEBHOOK_RETRY_WINDOW_MS;
    let backoff = FIRST_BACKOFF_MS;
    let lastError = "";
    for (let attempt = 1; !signal.aborted; attempt++) {
      let retry: boolean;
      try {
        const res = await rh.http.fetch(where, { method: "POST", headers, body, signal: AbortSignal.any([signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]) });
        await res.body?.cancel().catch(() => {});
        if (res.ok) {
          this.event(rh, svc, "Normal", "WebhookCalled", `room.call delivered to ${where} for ${ep.identity} (HTTP ${res.status}, attempt ${attempt})`);
          return;
        }
        lastError = `HTTP ${res.status}`;
        retry = res.status === 408 || res.status === 429 || res.status >= 500;
      } catch (err) {
        if (signal.aborted) return;
        lastError = (err as Error).message;
        retry = true;
      }
      if (!retry || ctx.clock.now() + backoff > deadline) {
        this.event(rh, svc, "Warning", "WebhookFailed", `room.call to ${where} for ${ep.identity} failed after ${attempt} attempt(s): ${lastError}${retry ? ` (gave up after ${WEBHOOK_RETRY_WINDOW_MS / 1000} s)` : ""}`);
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, backoff);
        signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private untrack(rh: RoomHooks, svc: HookedService): void {
    svc.handle.off("state", svc.onState);
    svc.run?.abort();
    rh.services.delete(svc.serviceId);
  }

  private event(rh: RoomHooks, svc: HookedService, type: "Normal" | "Warning", reason: ServiceEvent["reason"], message: string): void {
    recordSideEvent({ events: rh.events, log: this.log, rooms: this.d.rooms, room: rh.room, now: this.d.ctx.clock.now() }, svc, type, reason, message);
  }

  private closeRoom(room: string, sessionId: string): void {
    const rh = this.rooms.get(room);
    if (rh === undefined || rh.sessionId !== sessionId) return;
    this.rooms.delete(room);
    for (const svc of [...rh.services.values()]) this.untrack(rh, svc);
    rh.http.close();
    rh.connector.close();
  }

  close(): void {
    for (const rh of [...this.rooms.values()]) this.closeRoom(rh.room, rh.sessionId);
  }
}
