import type { Logger } from "pino";
import type { Content } from "@roomservice/protocol";
import type { Connection, StreamCall } from "../rooms/connection.ts";
import type { Room } from "../rooms/room.ts";
import type { ServerContext } from "../context.ts";

export interface ToolContext {
  room: Room;
  conn: Connection;
  log: Logger;
  server: ServerContext;
}

/**
 * The api grant a built-in tool requires: the `surface` (a key of the token's api scope)
 * and, when set, a boolean `flag` inside it (a missing flag means true, as in the SDK).
 * The README's grants table lists every tool's grant; a test keeps the two in step.
 */
export interface ToolGrant {
  surface: string;
  flag?: string;
}

export interface UnaryTool {
  kind: "unary";
  /** Overrides the toolkit's surface-only grant. */
  grant?: ToolGrant;
  run(ctx: ToolContext, input: Content): Promise<Content> | Content;
}

export interface StreamTool {
  kind: "stream";
  /** Overrides the toolkit's surface-only grant. */
  grant?: ToolGrant;
  run(ctx: ToolContext, call: StreamCall): Promise<void>;
}

/** A toolkit served by the room server itself (messaging, storage, developer, services). */
export interface BuiltinToolkit {
  name: string;
  title: string;
  description: string;
  /** The api-grant surface a caller needs at all (finer checks happen inside tools). */
  grant: string;
  tools: Record<string, UnaryTool | StreamTool>;
}

/** The grant the dispatcher checks before running `toolkit.tools[tool]`. */
export function toolGrant(toolkit: BuiltinToolkit, tool: string): ToolGrant {
  return toolkit.tools[tool]?.grant ?? { surface: toolkit.grant };
}

/** An error meant for the caller: becomes an `error` content response. */
export class ToolError extends Error {
  override name = "ToolError";
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.code = code;
  }
}

/** JSON object input of a unary tool, or a ToolError naming the tool. */
export function jsonInput(input: Content, tool: string): Record<string, unknown> {
  if (input.type === "empty") return {};
  if (input.type !== "json" || typeof input.json !== "object" || input.json === null || Array.isArray(input.json)) {
    throw new ToolError(`${tool} expects a JSON object as input, got ${input.type} content`, 400);
  }
  return input.json as Record<string, unknown>;
}

export function stringField(obj: Record<string, unknown>, field: string, tool: string): string {
  const v = obj[field];
  if (typeof v !== "string") throw new ToolError(`${tool}: field "${field}" must be a string, got ${describe(v)}`, 400);
  return v;
}

export function optionalBool(obj: Record<string, unknown>, field: string, tool: string): boolean | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new ToolError(`${tool}: field "${field}" must be a boolean, got ${describe(v)}`, 400);
  return v;
}

export function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v)}`;
  return `${typeof v} ${typeof v === "object" ? "" : JSON.stringify(v)}`.trim();
}

/**
 * A toolkit the server hosts on behalf of something other than a participant (the MCP
 * bridge's toolkits, one per service endpoint). Listed by `room.list_toolkits` beside
 * participant-hosted toolkits and called through `room.invoke_tool` like them.
 */
export interface ProvidedToolkit {
  name: string;
  title: string;
  description: string;
  /** Tool descriptions as `room.list_toolkits` returns them (SDK ToolkitDescription shape). */
  tools: Record<string, unknown>[];
  /** Extra listing fields (e.g. the service it comes from). */
  extra: Record<string, unknown>;
  /** Calls a tool; throws ToolError for the caller. Unary only. */
  call(ctx: ToolContext, tool: string, input: Content): Promise<Content>;
}

/** Source of provided toolkits, per room. */
export interface ToolkitProvider {
  list(room: string): ProvidedToolkit[];
  get(room: string, name: string): ProvidedToolkit | undefined;
}
