import { EventEmitter } from "node:events";
import { join } from "node:path";
import { readdir } from "node:fs/promises";
import type { ServerContext } from "../context.ts";
import { RoomStorage } from "../storage/room-storage.ts";
import { assertProcFdAvailable } from "../storage/dir-fd.ts";
import { removeDeletedRoomDirs } from "./room-delete.ts";
import { Room, type RoomEvent, type SessionEndReason } from "./room.ts";

// The rule lives in the protocol package so clients share it without loading the server.
export { ROOM_NAME_PATTERN, roomNameError } from "@roomservice/protocol";

/** Holds live rooms; a room object exists while it has a session or connections. */
export class RoomManager {
  readonly events = new EventEmitter<{ event: [RoomEvent] }>();
  private readonly rooms = new Map<string, Room>();
  private readonly ctx: ServerContext;
  /**
   * Set by a cluster node: throws when this node may no longer write `room` (its lease is not
   * valid here). Checked before every storage change is committed.
   */
  fence: ((room: string) => void) | null = null;
  /**
   * Rooms being deleted (DELETE …/rooms/{room}): connections are refused until the delete
   * ends, so no session starts on data that is going away.
   */
  readonly deleting = new Set<string>();

  constructor(ctx: ServerContext) {
    this.ctx = ctx;
    this.events.setMaxListeners(0);
  }

  roomDir(name: string): string {
    return join(this.roomsDir, name);
  }

  /** `<data>/rooms`, or the cluster's shared directory (ServerContext.roomsDir). */
  get roomsDir(): string {
    return this.ctx.roomsDir ?? join(this.ctx.dataDir, "rooms");
  }

  get(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  getOrCreate(name: string): Room {
    let room = this.rooms.get(name);
    if (room !== undefined) return room;
    room = new Room({
      name,
      clock: this.ctx.clock,
      log: this.ctx.logger.child({ room: name }),
      sessions: this.ctx.sessions,
      storage: new RoomStorage(this.roomDir(name), () => this.fence?.(name)),
      maxConnections: this.ctx.limits.maxConnectionsPerRoom,
      departureTimeoutMs: () => this.ctx.roomSettings.departureTimeoutMs(name) ?? this.ctx.departureTimeoutMs,
      emit: (e) => {
        const log = this.ctx.logger.child({ room: e.room, session: e.sessionId });
        if (e.type === "session.ended") log.info({ reason: e.reason }, e.type);
        else log.debug({ event: e }, e.type);
        this.events.emit("event", e);
      },
      onIdle: (r) => {
        if (this.rooms.get(r.name) === r) this.rooms.delete(r.name);
      },
    });
    this.rooms.set(name, room);
    return room;
  }

  list(): Room[] {
    return [...this.rooms.values()];
  }

  endAll(reason: SessionEndReason): void {
    for (const r of [...this.rooms.values()]) r.endSession(reason);
  }

  /**
   * Start-up: check that storage can walk directory fds (/proc/self/fd), then discard
   * uploads that a crash left half-written.
   */
  async discardIncompleteUploads(): Promise<void> {
    await assertProcFdAvailable();
    const roomsDir = this.roomsDir;
    await removeDeletedRoomDirs(roomsDir);
    const names = await readdir(roomsDir).catch(() => [] as string[]);
    await Promise.all(names.map((n) => new RoomStorage(this.roomDir(n)).discardIncompleteUploads()));
  }
}
