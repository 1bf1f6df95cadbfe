import type { Logger } from "pino";
import { empty, json, type Content } from "@roomservice/protocol";
import { checkSurface, PermissionDenied, type ApiScope } from "../../auth/scope.ts";
import type { Clock } from "../../config.ts";
import type { Connection } from "../../rooms/connection.ts";
import type { RoomManager } from "../../rooms/room-manager.ts";
import type { DatabaseSync } from "node:sqlite";
import { ToolError, describe, jsonInput, optionalBool, stringField, type BuiltinToolkit, type ToolContext } from "../types.ts";
import { QueueStore } from "./store.ts";

/** Limits of the `queues` toolkit (named defaults, README "Limits"). */
export interface QueueLimits {
  /** Queues one room may have. */
  maxQueuesPerRoom: number;
  /** Messages one queue holds before `send` is refused. */
  maxMessagesPerQueue: number;
  /** One message, as JSON text, bytes. */
  maxMessageBytes: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = { maxQueuesPerRoom: 256, maxMessagesPerQueue: 10_000, maxMessageBytes: 1024 * 1024 };

const NAME = /^[A-Za-z0-9_.:@/-]{1,128}$/;

interface Waiter {
  conn: Connection;
  resolve(c: Content): void;
}

/**
 * The `queues` toolkit, shaped as the SDK's `dist/node/queues-client.js` calls it: `list`,
 * `open {name}`, `drain {name}`, `close {name}`, `send {name, create, message}`,
 * `receive {name, create, wait}`.
 *
 * Semantics: room-scoped FIFO; each message goes to one receiver at a time and at least
 * once — it is leased to the receiver and deleted when that receiver calls `receive` again,
 * or returned to the head of the queue if the receiver leaves first. A `receive` with
 * `wait: true` on an empty queue is answered by the next `send`. Stored in node-local SQLite, so
 * messages survive a server restart. A queue and its messages are dropped when its room's
 * session ends (departure timeout or termination), unless it was opened durable
 * (`open {name, durable: true}`, a Roomservice extension); a server shutdown or crash is
 * not a session end for queues.
 */
export function createQueuesToolkit(a: { db: DatabaseSync; rooms: RoomManager; clock: Clock; logger: Logger; limits?: Partial<QueueLimits> }): BuiltinToolkit {
  const limits: QueueLimits = { ...DEFAULT_QUEUE_LIMITS, ...a.limits };
  const store = new QueueStore(a.db);
  store.releaseAll();
  const waiters = new Map<string, Waiter[]>();
  const key = (room: string, name: string) => `${room}\u0000${name}`;

  /** Hands free messages to waiting receivers, oldest waiter first. */
  const wake = (room: string, name: string): void => {
    const list = waiters.get(key(room, name));
    while (list !== undefined && list.length > 0) {
      const w = list[0]!;
      if (w.conn.closed) {
        list.shift();
        continue;
      }
      const m = store.take(room, name, w.conn.participantId);
      if (m === null) break;
      list.shift();
      w.resolve(json(JSON.parse(m.body)));
    }
    if (list !== undefined && list.length === 0) waiters.delete(key(room, name));
  };
  /** Waiting receivers of a queue that went away get "nothing" (the SDK's null). */
  const dismiss = (room: string, name: string): void => {
    const list = waiters.get(key(room, name)) ?? [];
    waiters.delete(key(room, name));
    for (const w of list) w.resolve(empty());
  };

  a.rooms.events.on("event", (e) => {
    if (e.type === "participant.left") {
      // Its waiting receives end (nobody reads the answer), then its leases go back.
      for (const [k, list] of waiters) {
        const keep = list.filter((w) => w.conn.participantId !== e.participantId);
        for (const w of list) if (w.conn.participantId === e.participantId) w.resolve(empty());
        if (keep.length === 0) waiters.delete(k);
        else waiters.set(k, keep);
      }
      for (const name of store.releaseHolder(e.room, e.participantId)) wake(e.room, name);
    } else if (e.type === "session.ended" && e.reason !== "server_shutdown") {
      for (const name of store.dropTransient(e.room)) dismiss(e.room, name);
    }
  });

  const queueName = (args: Record<string, unknown>, tool: string): string => {
    const name = stringField(args, "name", tool);
    if (!NAME.test(name)) throw new ToolError(`${tool}: queue name ${JSON.stringify(name.slice(0, 140))} must be 1-128 letters, digits or _ . : @ / -`, 400);
    return name;
  };
  const ensure = (room: string, name: string, create: boolean, durable: boolean, tool: string): void => {
    if (store.exists(room, name)) {
      if (durable) store.create(room, name, true, a.clock.now());
      return;
    }
    if (!create) throw new ToolError(`${tool}: queue ${JSON.stringify(name)} does not exist (pass create: true to make it)`, 404);
    if (store.countQueues(room) >= limits.maxQueuesPerRoom) {
      throw new ToolError(`${tool}: room already has ${limits.maxQueuesPerRoom} queues (limit); close one first`, 429);
    }
    store.create(room, name, durable, a.clock.now());
  };
  const existing = (room: string, name: string, tool: string): void => {
    if (!store.exists(room, name)) throw new ToolError(`${tool}: queue ${JSON.stringify(name)} does not exist`, 404);
  };

  const tools: BuiltinToolkit["tools"] = {
    list: {
      kind: "unary",
      run(ctx: ToolContext): Content {
        const g = checkSurface(ctx.conn.principal.api, "queues");
        if (g.list === false) throw new PermissionDenied(`token's api grant "queues" does not allow "list"`);
        return json({ queues: store.list(ctx.room.name) });
      },
    },
    open: {
      kind: "unary",
      run(ctx: ToolContext, input: Content): Content {
        const args = jsonInput(input, "queues.open");
        const name = queueName(args, "queues.open");
        ensure(ctx.room.name, name, true, optionalBool(args, "durable", "queues.open") ?? false, "queues.open");
        return empty();
      },
    },
    drain: {
      kind: "unary",
      run(ctx: ToolContext, input: Content): Content {
        const name = queueName(jsonInput(input, "queues.drain"), "queues.drain");
        existing(ctx.room.name, name, "queues.drain");
        checkQueue(ctx.conn.principal.api, "receive", name);
        store.drain(ctx.room.name, name);
        return empty();
      },
    },
    close: {
      kind: "unary",
      run(ctx: ToolContext, input: Content): Content {
        const name = queueName(jsonInput(input, "queues.close"), "queues.close");
        existing(ctx.room.name, name, "queues.close");
        store.drop(ctx.room.name, name);
        dismiss(ctx.room.name, name);
        return empty();
      },
    },
    send: {
      kind: "unary",
      run(ctx: ToolContext, input: Content): Content {
        const args = jsonInput(input, "queues.send");
        const name = queueName(args, "queues.send");
        checkQueue(ctx.conn.principal.api, "send", name);
        if (args.message === undefined) throw new ToolError(`queues.send: field "message" is required (a JSON value), got nothing`, 400);
        const body = JSON.stringify(args.message);
        if (Buffer.byteLength(body) > limits.maxMessageBytes) {
          throw new ToolError(`queues.send: message is ${Buffer.byteLength(body)} bytes as JSON, over the ${limits.maxMessageBytes}-byte limit`, 413);
        }
        ensure(ctx.room.name, name, optionalBool(args, "create", "queues.send") ?? true, false, "queues.send");
        const size = store.size(ctx.room.name, name);
        if (size >= limits.maxMessagesPerQueue) {
          throw new ToolError(`queues.send: queue ${JSON.stringify(name)} is full (${size} messages, limit ${limits.maxMessagesPerQueue}); wait for receivers or drain it`, 429);
        }
        store.push(ctx.room.name, name, body);
        wake(ctx.room.name, name);
        return empty();
      },
    },
    receive: {
      kind: "unary",
      run(ctx: ToolContext, input: Content): Content | Promise<Content> {
        const args = jsonInput(input, "queues.receive");
        const name = queueName(args, "queues.receive");
        checkQueue(ctx.conn.principal.api, "receive", name);
        ensure(ctx.room.name, name, optionalBool(args, "create", "queues.receive") ?? true, false, "queues.receive");
        const wait = args.wait ?? true;
        if (typeof wait !== "boolean") throw new ToolError(`queues.receive: field "wait" must be a boolean, got ${describe(wait)}`, 400);
        // Earlier waiters go first: only take directly when nobody is queued ahead.
        const k = key(ctx.room.name, name);
        if (!waiters.has(k)) {
          const m = store.take(ctx.room.name, name, ctx.conn.participantId);
          if (m !== null) return json(JSON.parse(m.body));
        }
        if (!wait) return empty();
        return new Promise<Content>((resolve) => {
          let list = waiters.get(k);
          if (list === undefined) waiters.set(k, (list = []));
          list.push({ conn: ctx.conn, resolve });
          wake(ctx.room.name, name);
        });
      },
    },
  };
  return { name: "queues", title: "queues", description: "room-scoped FIFO message queues", grant: "queues", tools };
}

/** The SDK's QueuesGrant: optional `send` / `receive` lists of queue names. */
function checkQueue(api: ApiScope | undefined, what: "send" | "receive", name: string): void {
  const g = checkSurface(api, "queues");
  const list = g[what];
  if (Array.isArray(list) && !list.includes(name)) throw new PermissionDenied(`token's api grant "queues" does not allow ${what} on queue "${name}"`);
}
