import { TOOLKIT_NAME_RE } from "@roomservice/manifest";
import type { Logger } from "pino";
import {
  MessageType, controlOpen, empty, errorContent, json, packContent, type Content, type DecodedMessage,
} from "@roomservice/protocol";
import { checkSurface, checkUseToolkit, checkFlag, PermissionDenied } from "../auth/scope.ts";
import type { ServerContext } from "../context.ts";
import { ToolError, toolGrant, type BuiltinToolkit, type ProvidedToolkit, type ToolContext, type ToolkitProvider } from "../toolkits/types.ts";
import { ToolkitError } from "../toolkits/hosted.ts";
import { setAttributes } from "../toolkits/messaging.ts";
import { StreamCall, parseRequest, parseContentArg, type Connection } from "./connection.ts";
import type { Room } from "./room.ts";

/**
 * Turns decoded messages from one connection into actions on its room. Every request is
 * answered with a `__response__` under the request's id: content on success, an `error`
 * content (with a code: 400 bad input, 403 denied, 404 not found, 409 conflict) otherwise.
 */
export class Dispatcher {
  private readonly builtins: Map<string, BuiltinToolkit>;
  private readonly server: ServerContext;
  private readonly providers: ToolkitProvider[] = [];
  readonly reservedNames: ReadonlySet<string>;

  constructor(server: ServerContext, builtins: BuiltinToolkit[]) {
    this.server = server;
    this.builtins = new Map(builtins.map((t) => [t.name, t]));
    this.reservedNames = new Set(this.builtins.keys());
  }

  /** The built-in toolkits by name (tests check each tool's declared grant against the README). */
  builtinsByName(): Record<string, BuiltinToolkit> {
    return Object.fromEntries(this.builtins);
  }

  addBuiltin(t: BuiltinToolkit): void {
    this.builtins.set(t.name, t);
    (this.reservedNames as Set<string>).add(t.name);
  }

  /** Adds a source of server-hosted toolkits (the MCP bridge). */
  addProvider(p: ToolkitProvider): void {
    this.providers.push(p);
  }

  private provided(room: string, name: string) {
    for (const p of this.providers) {
      const tk = p.get(room, name);
      if (tk !== undefined) return tk;
    }
    return undefined;
  }

  async handle(room: Room, conn: Connection, msg: DecodedMessage): Promise<void> {
    const parsed = parseRequest(msg.data);
    if ("error" in parsed) {
      conn.respond(msg.id, errorContent(`malformed ${msg.type} payload: ${parsed.error}`, 400));
      return;
    }
    const { header, tail } = parsed;
    try {
      switch (msg.type) {
        case MessageType.invokeTool:
          return await this.invoke(room, conn, msg.id, header, tail);
        case MessageType.toolCallRequestChunk:
          return this.requestChunk(room, conn, msg.id, header, tail);
        case MessageType.toolCallResponse:
          // A host answering a forwarded call; unknown ids are late answers to calls whose
          // caller has left, and are dropped.
          room.toolkits.completeFromHost(conn, msg.id, msg.data);
          return;
        case MessageType.toolCallResponseChunk: {
          const id = header.tool_call_id;
          if (typeof id === "string") room.toolkits.relayResponseChunk(conn, id, header.chunk, tail);
          return;
        }
        case MessageType.registerToolkit:
          return this.register(room, conn, msg.id, header);
        case MessageType.unregisterToolkit: {
          const id = header.id;
          if (typeof id !== "string") throw new ToolError("room.unregister_toolkit: field \"id\" must be a string", 400);
          if (!room.toolkits.unregister(conn, id)) throw new ToolError(`no toolkit registration with id ${id}`, 404);
          conn.respond(msg.id, empty());
          return;
        }
        case MessageType.listToolkits:
          return this.listToolkits(room, conn, msg.id, header);
        case MessageType.setAttributes:
          setAttributes(room, conn, header);
          conn.respond(msg.id, empty());
          return;
        default:
          conn.respond(msg.id, errorContent(`unknown message type ${JSON.stringify(msg.type)}`, 400));
      }
    } catch (err) {
      conn.respond(msg.id, this.errorFor(err, conn.log, msg.type));
    }
  }

  private errorFor(err: unknown, log: Logger, what: string): Content {
    if (err instanceof ToolError) return errorContent(err.message, err.code);
    if (err instanceof PermissionDenied) return errorContent(`permission denied: ${err.message}`, 403);
    if (err instanceof ToolkitError) return errorContent(err.message, 400);
    log.error({ err, what }, "unexpected error handling request");
    return errorContent(`internal error handling ${what}`, 500);
  }

  private async invoke(room: Room, conn: Connection, id: number, header: Record<string, unknown>, tail: Buffer): Promise<void> {
    const toolkitName = header.toolkit;
    const toolName = header.tool;
    if (typeof toolkitName !== "string" || typeof toolName !== "string") {
      throw new ToolError("room.invoke_tool needs string fields \"toolkit\" and \"tool\"", 400);
    }
    const input = parseContentArg(header.arguments, tail);
    if ("error" in input) throw new ToolError(`${toolkitName}.${toolName}: malformed arguments: ${input.error}`, 400);
    const streamed = input.type === "control" && input.method === "open";
    const toolCallId = header.tool_call_id;
    if (streamed && typeof toolCallId !== "string") throw new ToolError("a streamed tool call needs a string tool_call_id", 400);
    if (conn.pendingCalls + conn.streams.size >= this.server.limits.maxPendingToolCalls) {
      throw new ToolError(`too many tool calls in flight (limit ${this.server.limits.maxPendingToolCalls} per connection)`, 429);
    }

    const builtin = this.builtins.get(toolkitName);
    if (builtin === undefined) {
      const hosted = room.toolkits.get(toolkitName);
      if (hosted === undefined) {
        const provided = this.provided(room.name, toolkitName);
        if (provided !== undefined) return await this.invokeProvided(room, conn, id, provided, toolName, input, streamed);
      }
      if (hosted === undefined) throw new ToolError(`toolkit ${JSON.stringify(toolkitName)} was not found in room ${room.name}`, 404);
      checkUseToolkit(conn.principal.api, toolkitName);
      if (hosted.owner === conn) throw new ToolError(`toolkit ${JSON.stringify(toolkitName)} is hosted by the caller itself`, 400);
      room.toolkits.forward(conn, id, hosted, header, tail, streamed);
      return;
    }
    const tool = builtin.tools[toolName];
    if (tool === undefined) {
      checkSurface(conn.principal.api, builtin.grant);
      throw new ToolError(`tool ${JSON.stringify(toolName)} not found in toolkit ${toolkitName} (available: ${Object.keys(builtin.tools).join(", ")})`, 404);
    }
    // Every built-in tool's grant is declared, not checked ad hoc inside the tool.
    const grant = toolGrant(builtin, toolName);
    if (grant.flag === undefined) checkSurface(conn.principal.api, grant.surface);
    else checkFlag(conn.principal.api, grant.surface, grant.flag);
    const ctx: ToolContext = { room, conn, server: this.server, log: conn.log.child({ tool: `${toolkitName}.${toolName}` }) };
    if (tool.kind === "unary") {
      if (streamed) throw new ToolError(`${toolkitName}.${toolName} does not take streamed input; call it without invokeStream`, 400);
      conn.pendingCalls++;
      try {
        conn.respond(id, await tool.run(ctx, input));
      } finally {
        conn.pendingCalls--;
      }
      return;
    }
    if (!streamed) throw new ToolError(`${toolkitName}.${toolName} is a streaming tool; call it with invokeStream`, 400);
    if (conn.streams.has(toolCallId as string)) throw new ToolError(`tool_call_id ${String(toolCallId)} is already in use`, 409);
    const call = new StreamCall(conn, toolCallId as string);
    conn.streams.set(call.toolCallId, call);
    conn.respond(id, controlOpen());
    try {
      await tool.run(ctx, call);
    } catch (err) {
      const c = this.errorFor(err, ctx.log, `${toolkitName}.${toolName}`);
      if (c.type === "error") call.fail(c.text, c.code);
    } finally {
      call.close();
    }
  }

  private async invokeProvided(
    room: Room, conn: Connection, id: number, tk: ProvidedToolkit, toolName: string, input: Content, streamed: boolean,
  ): Promise<void> {
    checkUseToolkit(conn.principal.api, tk.name);
    if (streamed) throw new ToolError(`${tk.name}.${toolName} does not take streamed input; call it without invokeStream`, 400);
    const ctx: ToolContext = { room, conn, server: this.server, log: conn.log.child({ tool: `${tk.name}.${toolName}` }) };
    conn.pendingCalls++;
    try {
      conn.respond(id, await tk.call(ctx, toolName, input));
    } finally {
      conn.pendingCalls--;
    }
  }

  private requestChunk(room: Room, conn: Connection, id: number, header: Record<string, unknown>, tail: Buffer): void {
    const toolCallId = header.tool_call_id;
    if (typeof toolCallId !== "string") throw new ToolError("room.tool_call_request_chunk needs a string tool_call_id", 400);
    const call = conn.streams.get(toolCallId);
    if (call !== undefined) {
      const chunk = parseContentArg(header.chunk, tail);
      if ("error" in chunk) throw new ToolError(`malformed request chunk: ${chunk.error}`, 400);
      call.pushInput(chunk);
    } else if (!room.toolkits.relayRequestChunk(conn, toolCallId, header.chunk, tail)) {
      // The stream already finished (e.g. the final close chunk after the response ended).
      conn.respond(id, empty());
      return;
    }
    conn.respond(id, empty());
  }

  private register(room: Room, conn: Connection, id: number, header: Record<string, unknown>): void {
    const name = header.name;
    if (typeof name !== "string" || !TOOLKIT_NAME_RE.test(name)) {
      throw new ToolError("room.register_toolkit: \"name\" must be 1-128 characters of letters, digits, _ . : -", 400);
    }
    if (this.provided(room.name, name) !== undefined) {
      throw new ToolkitError(`toolkit name "${name}" is taken by a service's MCP server in this room`);
    }
    const isPublic = header.public === true;
    checkFlag(conn.principal.api, "agents", isPublic ? "register_public_toolkit" : "register_private_toolkit");
    const tools = header.tools;
    if (typeof tools !== "object" || tools === null || Array.isArray(tools)) {
      throw new ToolError("room.register_toolkit: \"tools\" must be an object mapping tool names to descriptions", 400);
    }
    const tk = room.toolkits.register(
      conn,
      {
        name,
        title: typeof header.title === "string" ? header.title : name,
        description: typeof header.description === "string" ? header.description : "",
        thumbnailUrl: header.thumbnail_url,
        tools: tools as Record<string, unknown>,
        public: isPublic,
      },
      this.reservedNames,
    );
    conn.log.info({ toolkit: name }, "toolkit registered");
    conn.respond(id, json({ id: tk.id }));
  }

  private listToolkits(room: Room, conn: Connection, id: number, header: Record<string, unknown>): void {
    checkFlag(conn.principal.api, "agents", "use_tools");
    const filter: { participantId?: string; participantName?: string } = {};
    if (typeof header.participant_id === "string") filter.participantId = header.participant_id;
    if (typeof header.participant_name === "string") filter.participantName = header.participant_name;
    const tools: Record<string, unknown> = {};
    for (const tk of room.toolkits.list(filter)) {
      tools[tk.name] = {
        name: tk.name, title: tk.title, description: tk.description, thumbnail_url: tk.thumbnailUrl,
        participant_id: tk.owner.participantId, public: tk.public, tools: tk.tools,
      };
    }
    // Server-hosted toolkits have no participant; a participant filter excludes them.
    if (filter.participantId === undefined && filter.participantName === undefined) {
      for (const p of this.providers) {
        for (const tk of p.list(room.name)) {
          if (tools[tk.name] !== undefined) continue;
          tools[tk.name] = { name: tk.name, title: tk.title, description: tk.description, public: true, tools: tk.tools, ...tk.extra };
        }
      }
    }
    conn.respond(id, json({ tools }));
  }
}

export { packContent };
