/**
 * NOT PART OF THE SUITE. Prototypes of server changes proposed in docs/benchmarks.md,
 * applied by patching the server's classes at start-up, so their effect can be measured
 * with the same figures before anyone edits packages/server:
 *
 *   BENCH_RS_SERVER=experiments/patched-server.ts PATCH=cork,shared node bench/run.ts --only messaging
 *
 * PATCH (comma-separated):
 *   cork       Connection.sendRaw corks the socket around a message's frames: one writev
 *              per message instead of one per frame (header + data).
 *   shared     Room.broadcastMessaging packs the payload once, not once per receiver.
 *   bigchunks  storage.download sends chunks of at least 1 MiB whatever chunk_size the
 *              client asked for (the SDK accepts any chunk size).
 *   nosql      session start / participant writes skipped: an upper bound for batching them.
 *
 * It reaches into private fields, so it breaks when those change; it exists to produce
 * evidence, not to ship.
 */
import { Connection } from "../../packages/server/src/rooms/connection.ts";
import { Room } from "../../packages/server/src/rooms/room.ts";
import { SessionStore } from "../../packages/server/src/store/sessions.ts";
import { storageToolkit } from "../../packages/server/src/toolkits/storage.ts";
import { packPayload, MessageType } from "@roomservice/protocol";

const patches = new Set((process.env.PATCH ?? "").split(",").map((s) => s.trim()).filter(Boolean));

if (patches.has("cork")) {
  const sendRaw = Connection.prototype.sendRaw;
  Connection.prototype.sendRaw = function (this: any, id: number, type: string, data: Uint8Array) {
    const socket = this.ws._socket;
    socket?.cork();
    try {
      sendRaw.call(this, id, type, data);
    } finally {
      socket?.uncork();
    }
  };
}

if (patches.has("shared")) {
  (Room.prototype as any).broadcastMessaging = function (this: any, from: any, type: string, message: unknown, attachment?: Buffer) {
    const payload = packPayload({ from_participant_id: from.participantId, type, message }, attachment);
    let n = 0;
    for (const c of this.connections.values()) {
      if (c === from || !c.messagingEnabled) continue;
      c.sendRaw(c.nextId++, MessageType.messagingSend, payload);
      n++;
    }
    return n;
  };
}

if (patches.has("bigchunks")) {
  const tool = storageToolkit.tools.download as any;
  const run = tool.run;
  tool.run = (ctx: unknown, call: any) => {
    const next = call.next.bind(call);
    let first = true;
    call.next = async () => {
      const c = await next();
      if (first && c?.type === "binary") {
        first = false;
        c.headers.chunk_size = Math.max(Number(c.headers.chunk_size ?? 0), 1024 * 1024);
      }
      return c;
    };
    return run(ctx, call);
  };
}

if (patches.has("nosql")) {
  SessionStore.prototype.recordStart = () => undefined;
  SessionStore.prototype.recordParticipants = () => undefined;
}

await import("../children/rs-server.ts");
