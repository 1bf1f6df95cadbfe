import { randomUUID } from "node:crypto";
import { MessageType, errorContent, type Content } from "@roomservice/protocol";
import type { Connection } from "../rooms/connection.ts";
import type { Room } from "../rooms/room.ts";

/** A toolkit registered by a participant (`room.register_toolkit`). */
export interface HostedToolkit {
  id: string;
  name: string;
  title: string;
  description: string;
  thumbnailUrl: unknown;
  tools: Record<string, unknown>;
  public: boolean;
  owner: Connection;
}

interface PendingHostCall {
  caller: Connection;
  callerRequestId: number;
  toolkit: string;
}

interface Relay {
  caller: Connection;
  host: Connection;
}

export class ToolkitError extends Error {
  override name = "ToolkitError";
}

/**
 * Participant-hosted toolkits of one room and the routing of calls to them. A call becomes
 * a `room.tool_call.<toolkit>` message to the host; the host answers with
 * `room.tool_call_response` under the same id, which is relayed to the caller as its
 * response. Streamed calls also relay request and response chunks by tool_call_id.
 */
export class HostedToolkits {
  private readonly room: Room;
  private readonly byName = new Map<string, HostedToolkit>();
  /** Keyed by host connection, then by the id of the message sent to the host. */
  private readonly pending = new Map<Connection, Map<number, PendingHostCall>>();
  private readonly relays = new Map<string, Relay>();

  constructor(room: Room) {
    this.room = room;
  }

  register(owner: Connection, spec: Omit<HostedToolkit, "id" | "owner">, reservedNames: ReadonlySet<string>): HostedToolkit {
    if (reservedNames.has(spec.name)) throw new ToolkitError(`toolkit name "${spec.name}" is reserved for a built-in toolkit`);
    const existing = this.byName.get(spec.name);
    if (existing !== undefined && existing.owner !== owner) {
      throw new ToolkitError(`toolkit "${spec.name}" is already registered by participant ${existing.owner.participantId} (${existing.owner.identity})`);
    }
    const tk: HostedToolkit = { ...spec, id: existing?.id ?? randomUUID(), owner };
    this.byName.set(spec.name, tk);
    return tk;
  }

  unregister(owner: Connection, id: string): boolean {
    for (const [name, tk] of this.byName) {
      if (tk.id === id) {
        if (tk.owner !== owner) throw new ToolkitError(`toolkit registration ${id} belongs to another participant`);
        this.byName.delete(name);
        return true;
      }
    }
    return false;
  }

  get(name: string): HostedToolkit | undefined {
    return this.byName.get(name);
  }

  list(filter: { participantId?: string; participantName?: string } = {}): HostedToolkit[] {
    return [...this.byName.values()].filter(
      (tk) =>
        (filter.participantId === undefined || tk.owner.participantId === filter.participantId) &&
        (filter.participantName === undefined || tk.owner.identity === filter.participantName),
    );
  }

  /** Forwards a call to the toolkit's host. `args` is the wire header of the input content. */
  forward(caller: Connection, callerRequestId: number, tk: HostedToolkit, request: Record<string, unknown>, tail: Buffer, streamed: boolean): void {
    const host = tk.owner;
    const toolCallId = typeof request.tool_call_id === "string" ? request.tool_call_id : randomUUID();
    if (streamed) {
      if (this.relays.has(toolCallId)) throw new ToolkitError(`tool_call_id ${toolCallId} is already in use`);
      this.relays.set(toolCallId, { caller, host });
    }
    const id = host.sendEvent(
      `${MessageType.toolCallPrefix}${tk.name}`,
      {
        name: request.tool,
        toolkit: tk.name,
        arguments: request.arguments,
        tool_call_id: toolCallId,
        caller_context: request.caller_context,
        on_behalf_of_id: request.on_behalf_of_id,
        caller: { id: caller.participantId, name: caller.identity, role: caller.principal.role },
      },
      tail,
    );
    let forHost = this.pending.get(host);
    if (forHost === undefined) this.pending.set(host, (forHost = new Map()));
    forHost.set(id, { caller, callerRequestId, toolkit: tk.name });
    caller.pendingCalls++;
  }

  /** The host answered a forwarded call. Returns false when no call is waiting on that id. */
  completeFromHost(host: Connection, messageId: number, packedContent: Buffer): boolean {
    const forHost = this.pending.get(host);
    const p = forHost?.get(messageId);
    if (p === undefined) return false;
    forHost!.delete(messageId);
    p.caller.pendingCalls--;
    p.caller.respondRaw(p.callerRequestId, packedContent);
    return true;
  }

  /** A request chunk from a caller of a hosted streamed call. */
  relayRequestChunk(caller: Connection, toolCallId: string, chunk: unknown, tail: Buffer): boolean {
    const r = this.relays.get(toolCallId);
    if (r === undefined || r.caller !== caller) return false;
    r.host.sendEvent(MessageType.toolCallRequestChunk, { tool_call_id: toolCallId, chunk }, tail);
    return true;
  }

  /** A response chunk from a host; a control close ends the relay. */
  relayResponseChunk(host: Connection, toolCallId: string, chunk: unknown, tail: Buffer): boolean {
    const r = this.relays.get(toolCallId);
    if (r === undefined || r.host !== host) return false;
    r.caller.sendEvent(MessageType.toolCallResponseChunk, { tool_call_id: toolCallId, chunk }, tail);
    const c = chunk as { type?: unknown; method?: unknown } | null;
    if (c !== null && typeof c === "object" && c.type === "control" && c.method === "close") this.relays.delete(toolCallId);
    return true;
  }

  /** A participant left: its toolkits vanish and calls waiting on it fail. */
  removeOwner(conn: Connection): void {
    for (const [name, tk] of this.byName) if (tk.owner === conn) this.byName.delete(name);
    const forHost = this.pending.get(conn);
    if (forHost !== undefined) {
      this.pending.delete(conn);
      for (const p of forHost.values()) {
        p.caller.pendingCalls--;
        p.caller.respond(p.callerRequestId, errorContent(`participant hosting toolkit "${p.toolkit}" left the room before answering`));
      }
    }
    for (const [id, r] of this.relays) {
      if (r.host === conn) {
        const close: Content = errorContent("participant hosting the toolkit left the room");
        r.caller.sendEvent(MessageType.toolCallResponseChunk, { tool_call_id: id, chunk: { type: close.type, text: (close as { text: string }).text } });
        r.caller.sendEvent(MessageType.toolCallResponseChunk, { tool_call_id: id, chunk: { type: "control", method: "close", status_code: 1000 } });
        this.relays.delete(id);
      } else if (r.caller === conn) this.relays.delete(id);
    }
  }

  get size(): number {
    return this.byName.size;
  }
}
