/**
 * The MCP bridge: services that declare `ports[].endpoints[].mcp` get their MCP server's tools
 * registered as a room toolkit named by `label`, for as long as the service is ready in the
 * live session. Connections are made into the room's localhost by the runtime's connector
 * (`RoomSandbox.openConnector`; docker and sandbox: NetnsConnector inside the room's network
 * namespace) through netnsFetch, so the service needs no published port and rooms stay isolated.
 *
 * Lifecycle per service: launcher `serviceStarted` → follow the handle's state; `running`
 * → connect every MCP endpoint; leaving `running` for stopping/stopped/exited/failed/backoff
 * → disconnect (the toolkit disappears); `session.ended` → everything of the room closes.
 */
import { normalizeManifest } from "@roomservice/manifest";
import { checkStoredManifest } from "../services/stored-manifest.ts";
import type { ServiceConnector, ServiceEvent, ServiceHandle, ServiceRuntimeState } from "@roomservice/runtime";
import type { Logger } from "pino";
import type { ServerContext } from "../context.ts";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { ServiceLauncher, ServiceStartedEvent } from "../services/launcher.ts";
import { ToolError, jsonInput, type ProvidedToolkit, type ToolkitProvider } from "../toolkits/types.ts";
import { resultToContent } from "./content-map.ts";
import { DEFAULT_MCP_TIMEOUTS, McpCallError, McpEndpoint, type McpTimeouts } from "./endpoint.ts";
import { netnsFetch } from "./netns-fetch.ts";
import { recordSideEvent } from "../services/side-events.ts";

/** For a runtime that cannot open connections into its rooms: every connect fails, saying so. */
function noConnector(sandbox: { constructor: { name: string } }): ServiceConnector {
  const why = `this runtime (${sandbox.constructor.name}) cannot open connections to a service's port, so MCP endpoints are not bridged`;
  return { connect: () => Promise.reject(new Error(why)), close: () => {} };
}

const DISCONNECT_STATES = new Set<ServiceRuntimeState["state"]>(["stopping", "stopped", "exited", "failed", "backoff"]);

interface BridgedService {
  serviceId: string;
  name: string;
  handle: ServiceHandle;
  onState: (s: ServiceRuntimeState) => void;
  endpoints: McpEndpoint[];
  running: boolean;
}

interface RoomBridge {
  room: string;
  sessionId: string;
  connector: ServiceConnector;
  http: ReturnType<typeof netnsFetch>;
  services: Map<string, BridgedService>;
  /** Bridge events per service id (Kubernetes-style, de-duplicated by type+reason+message). */
  events: Map<string, ServiceEvent[]>;
}

export interface McpBridgeDeps {
  ctx: ServerContext;
  rooms: RoomManager;
  launcher: ServiceLauncher;
  /** Names a bridged toolkit may not take (built-in toolkits). */
  reservedNames: ReadonlySet<string>;
  timeouts?: Partial<McpTimeouts>;
}

export class McpBridge implements ToolkitProvider {
  private readonly d: McpBridgeDeps;
  private readonly log: Logger;
  private readonly timeouts: McpTimeouts;
  private readonly rooms = new Map<string, RoomBridge>();

  constructor(d: McpBridgeDeps) {
    this.d = d;
    this.log = d.ctx.logger.child({ component: "mcp-bridge" });
    this.timeouts = { ...DEFAULT_MCP_TIMEOUTS, ...d.timeouts };
    d.launcher.serviceStarted.on("started", (e) => this.track(e));
    d.launcher.addEventSource((room, serviceId) => this.rooms.get(room)?.events.get(serviceId) ?? []);
    d.rooms.events.on("event", (e) => {
      if (e.type === "session.ended") void this.closeRoom(e.room, e.sessionId);
    });
    d.launcher.stopped.on("stopped", (e) => void this.closeRoom(e.room, e.sessionId));
  }

  private track(e: ServiceStartedEvent): void {
    const v = checkStoredManifest(e.record.spec);
    if (!v.ok) return; // the launcher reports invalid manifests itself
    const m = normalizeManifest(v.manifest);
    const declared = m.ports.flatMap((p) => p.endpoints.filter((ep) => ep.mcp !== undefined).map((ep) => ({ port: p.num, path: ep.path, mcp: ep.mcp! })));
    let rb = this.rooms.get(e.room);
    const old = rb?.services.get(e.record.id);
    if (old !== undefined) this.untrack(rb!, old);
    if (declared.length === 0) return;
    if (rb === undefined || rb.sessionId !== e.sessionId) {
      if (rb !== undefined) void this.closeRoom(rb.room, rb.sessionId);
      const connector = e.sandbox.openConnector?.(this.log.child({ room: e.room })) ?? noConnector(e.sandbox);
      rb = { room: e.room, sessionId: e.sessionId, connector, http: netnsFetch((port) => connector.connect(port), { maxResponseBytes: this.d.ctx.limits.maxMessageBytes }), services: new Map(), events: new Map() };
      this.rooms.set(e.room, rb);
    }
    const room = rb;
    const log = this.log.child({ room: e.room, service: m.name });
    const svc: BridgedService = { serviceId: e.record.id, name: m.name, handle: e.handle, endpoints: [], running: false, onState: () => {} };
    for (const d of declared) {
      const label = d.mcp.label;
      const clash = this.d.reservedNames.has(label)
        ? "a built-in toolkit"
        : [...room.services.values()].find((s) => s.endpoints.some((x) => x.config.label === label))?.name;
      if (clash !== undefined) {
        this.event(room, svc, "Warning", "McpFailed", `MCP endpoint ${d.path} on port ${d.port} not bridged: toolkit name "${label}" is already used by ${clash === "a built-in toolkit" ? clash : `service ${clash}`}`);
        continue;
      }
      svc.endpoints.push(new McpEndpoint({
        port: d.port, path: d.path, config: d.mcp, fetch: room.http.fetch, timeouts: this.timeouts, log: log.child({ mcp: label }),
        cb: {
          changed: () => {
            log.debug({ mcp: label }, "bridged toolkit changed");
            // A participant may have registered the name first: its toolkit wins, say so.
            const owner = this.d.rooms.get(room.room)?.toolkits.get(label)?.owner;
            if (owner !== undefined && svc.endpoints.some((x) => x.config.label === label && x.state.kind === "ready")) {
              this.event(room, svc, "Warning", "McpFailed", `toolkit name "${label}" is already registered by participant ${owner.identity}; the MCP tools are hidden while it is`);
            }
          },
          event: (type, reason, message) => this.event(room, svc, type, reason, message),
        },
      }));
    }
    svc.onState = (s) => {
      if (s.state === "running" && !svc.running) {
        svc.running = true;
        for (const ep of svc.endpoints) void ep.connect();
      } else if (DISCONNECT_STATES.has(s.state) && svc.running) {
        svc.running = false;
        for (const ep of svc.endpoints) void ep.disconnect();
      }
    };
    room.services.set(svc.serviceId, svc);
    e.handle.on("state", svc.onState);
    svc.onState(e.handle.status());
  }

  private untrack(rb: RoomBridge, svc: BridgedService): void {
    svc.handle.off("state", svc.onState);
    rb.services.delete(svc.serviceId);
    for (const ep of svc.endpoints) void ep.close();
  }

  private event(rb: RoomBridge, svc: BridgedService, type: "Normal" | "Warning", reason: ServiceEvent["reason"], message: string): void {
    recordSideEvent({ events: rb.events, log: this.log, rooms: this.d.rooms, room: rb.room, now: this.d.ctx.clock.now() }, svc, type, reason, message);
  }

  private async closeRoom(room: string, sessionId: string): Promise<void> {
    const rb = this.rooms.get(room);
    if (rb === undefined || rb.sessionId !== sessionId) return;
    this.rooms.delete(room);
    for (const svc of [...rb.services.values()]) this.untrack(rb, svc);
    rb.http.close();
    rb.connector.close();
  }

  // ---- ToolkitProvider ----

  list(room: string): ProvidedToolkit[] {
    const rb = this.rooms.get(room);
    if (rb === undefined) return [];
    const out: ProvidedToolkit[] = [];
    for (const svc of rb.services.values()) {
      for (const ep of svc.endpoints) if (ep.state.kind === "ready") out.push(this.describe(svc, ep));
    }
    return out;
  }

  get(room: string, name: string): ProvidedToolkit | undefined {
    return this.list(room).find((t) => t.name === name);
  }

  private describe(svc: BridgedService, ep: McpEndpoint): ProvidedToolkit {
    const c = ep.config;
    return {
      name: c.label,
      title: c.label,
      description: c.description ?? `MCP server of service ${svc.name}`,
      tools: ep.tools.map((t) => ({
        name: t.name,
        title: t.title ?? t.annotations?.title ?? t.name,
        description: t.description ?? "",
        // Passed through as the MCP server declares them.
        input_schema: t.inputSchema,
        input_spec: { types: ["json"], stream: false, schema: t.inputSchema },
        ...(t.outputSchema === undefined ? {} : { output_schema: t.outputSchema }),
        annotations: t.annotations ?? {},
      })),
      extra: {
        service_id: svc.serviceId,
        service: svc.name,
        mcp: { port: ep.port, path: ep.path, require_approval: c.requireApproval ?? null },
      },
      call: async (_ctx, tool, input) => {
        const args = jsonInput(input, `${c.label}.${tool}`);
        try {
          return resultToContent(await ep.call(tool, args));
        } catch (err) {
          if (err instanceof McpCallError) throw new ToolError(err.message, err.code);
          throw err;
        }
      },
    };
  }

  /** Toolkit names the bridge serves in a room now (diagnostics and tests). */
  toolkitNames(room: string): string[] {
    return this.list(room).map((t) => t.name);
  }

  /** Whether the bridge still holds anything for the room (connections, helper). */
  holds(room: string): boolean {
    return this.rooms.has(room);
  }

  async close(): Promise<void> {
    for (const rb of [...this.rooms.values()]) await this.closeRoom(rb.room, rb.sessionId);
  }
}
