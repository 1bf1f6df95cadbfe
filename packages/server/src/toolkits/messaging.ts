import { empty, json, type Content } from "@roomservice/protocol";
import type { Connection } from "../rooms/connection.ts";
import type { Room } from "../rooms/room.ts";
import { ToolError, jsonInput, stringField, type BuiltinToolkit, type ToolContext } from "./types.ts";

const participantJson = (c: Connection) => ({ id: c.participantId, role: c.principal.role, attributes: c.attributes });

function enabledOthers(room: Room, self: Connection): Connection[] {
  return [...room.connections.values()].filter((c) => c !== self && c.messagingEnabled);
}

/**
 * Types the server itself sends to describe presence. A participant may not send them: the
 * SDK would believe them and show participants that are not there (or hide ones that are).
 */
export const RESERVED_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  "messaging.enabled", "participant.enabled", "participant.disabled", "participant.attributes",
]);

/** messaging.send / broadcast input: message_json is a JSON string, attachment base64. */
function decodeMessage(args: Record<string, unknown>, tool: string): { type: string; message: unknown; attachment: Buffer | undefined } {
  const type = stringField(args, "type", tool);
  if (RESERVED_MESSAGE_TYPES.has(type)) {
    throw new ToolError(`${tool}: message type ${JSON.stringify(type)} is reserved for presence events sent by the server`, 400);
  }
  let message: unknown = {};
  if (typeof args.message_json === "string") {
    try {
      message = JSON.parse(args.message_json);
    } catch {
      throw new ToolError(`${tool}: message_json is not valid JSON`, 400);
    }
  } else if (args.message !== undefined) message = args.message;
  let attachment: Buffer | undefined;
  if (typeof args.attachment_base64 === "string") attachment = Buffer.from(args.attachment_base64, "base64");
  return { type, message, attachment };
}

function enable({ room, conn }: ToolContext): Content {
  const others = enabledOthers(room, conn);
  if (!conn.messagingEnabled) {
    conn.messagingEnabled = true;
    room.broadcastMessaging(conn, "participant.enabled", participantJson(conn));
  }
  // The SDK waits for this event (not the tool response) before it sends anything.
  conn.sendEvent("messaging.send", {
    from_participant_id: conn.participantId,
    type: "messaging.enabled",
    message: { participants: others.map(participantJson) },
  });
  return empty();
}

function disable({ room, conn }: ToolContext): Content {
  if (conn.messagingEnabled) {
    conn.messagingEnabled = false;
    room.broadcastMessaging(conn, "participant.disabled", { id: conn.participantId });
  }
  return empty();
}

function send(ctx: ToolContext, input: Content): Content {
  const args = jsonInput(input, "messaging.send");
  const to = stringField(args, "to_participant_id", "messaging.send");
  const { type, message, attachment } = decodeMessage(args, "messaging.send");
  const target = ctx.room.connections.get(to);
  // Exactly this text: the SDK matches it to mark the participant offline.
  if (target === undefined || !target.messagingEnabled) throw new ToolError("the participant was not found", 404);
  target.sendEvent("messaging.send", { from_participant_id: ctx.conn.participantId, type, message }, attachment);
  return empty();
}

function broadcast(ctx: ToolContext, input: Content): Content {
  const args = jsonInput(input, "messaging.broadcast");
  const { type, message, attachment } = decodeMessage(args, "messaging.broadcast");
  ctx.room.broadcastMessaging(ctx.conn, type, message, attachment);
  return empty();
}

function list(ctx: ToolContext): Content {
  return json({ participants: enabledOthers(ctx.room, ctx.conn).map(participantJson) });
}

export const messagingToolkit: BuiltinToolkit = {
  name: "messaging",
  title: "Messaging",
  description: "Direct and broadcast messages between participants, with presence",
  grant: "messaging",
  tools: {
    enable: { kind: "unary", run: enable },
    disable: { kind: "unary", run: disable },
    send: { kind: "unary", run: send, grant: { surface: "messaging", flag: "send" } },
    broadcast: { kind: "unary", run: broadcast, grant: { surface: "messaging", flag: "broadcast" } },
    list: { kind: "unary", run: list, grant: { surface: "messaging", flag: "list" } },
  },
};

/** `set_attributes` from a participant: merge, then tell messaging-enabled peers. */
export function setAttributes(room: Room, conn: Connection, attrs: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "name") continue; // the identity comes from the token and cannot be spoofed
    conn.attributes[k] = v;
  }
  if (conn.messagingEnabled) room.broadcastMessaging(conn, "participant.attributes", { attributes: conn.attributes });
}
