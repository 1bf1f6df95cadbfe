import { binary, empty, type Content } from "@roomservice/protocol";
import type { StreamCall } from "../rooms/connection.ts";
import { jsonInput, stringField, ToolError, type BuiltinToolkit, type ToolContext } from "./types.ts";

function log(ctx: ToolContext, input: Content): Content {
  const args = jsonInput(input, "developer.log");
  const type = stringField(args, "type", "developer.log");
  const data = args.data ?? {};
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new ToolError("developer.log: field \"data\" must be a JSON object", 400);
  // The caller's data is delivered exactly as given; who wrote it travels beside it.
  ctx.room.logs.publish({ type, data: data as Record<string, unknown>, participantId: ctx.conn.participantId });
  return empty();
}

/** Streams every log entry of the room until the caller closes its side. */
async function logs(ctx: ToolContext, call: StreamCall): Promise<void> {
  const unsubscribe = ctx.room.logs.subscribe((e) => {
    // Provenance is a chunk header (the SDK reads only `type` and the data).
    const headers = e.participantId === undefined ? { type: e.type } : { type: e.type, participant_id: e.participantId };
    call.send(binary(headers, Buffer.from(JSON.stringify(e.data), "utf8")));
  });
  try {
    while ((await call.next()) !== null) {
      // Input chunks carry nothing for this tool; wait for the close.
    }
  } finally {
    unsubscribe();
  }
}

export const developerToolkit: BuiltinToolkit = {
  name: "developer",
  title: "Developer",
  description: "Developer logs: write entries and stream the room's log",
  grant: "developer",
  tools: {
    log: { kind: "unary", run: log },
    logs: { kind: "stream", run: logs, grant: { surface: "developer", flag: "logs" } },
  },
};
