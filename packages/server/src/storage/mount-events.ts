/**
 * Storage events for writes that bypass the Room API: services write room storage through
 * their bind mounts (the pipeline example writes outbox/ that way), and participants should
 * hear about those files as they hear about uploads. While a session runs a service that
 * mounts room storage (declared, or the agent template's implicit `/data`), the room's
 * storage folder is watched (inotify, one watch per folder: tree-watch.ts) and changes become
 * the SDK's `storage.file.updated` / `storage.file.deleted` events.
 *
 * - Names with a segment starting with "." are skipped: that is where atomic writers keep
 *   their temp files (both examples do), and a temp file is not news.
 * - A path is announced after it has been quiet for QUIET_MS, once, so a file written in many
 *   chunks is one event.
 * - Changes the Room API made itself are recognised by file identity (storage/api-changes.ts)
 *   and not announced again.
 * - Events carry `participant_id: null`: the writer is a container, not a participant.
 */
import { normalizeManifest, validateManifestObject } from "@roomservice/manifest";
import type { Logger } from "pino";
import type { RoomManager } from "../rooms/room-manager.ts";
import type { ServiceLauncher } from "../services/launcher.ts";
import { ToolError } from "../toolkits/types.ts";
import { fileIdentity } from "./api-changes.ts";
import { TreeWatch } from "./tree-watch.ts";

const QUIET_MS = 200;
/** Paths waiting for their quiet period; beyond this, new paths are dropped (and logged). */
const MAX_PENDING = 10_000;

/** Folders of one room's storage watched at most (one inotify watch each; tree-watch.ts). */
const MAX_DIRS = 4096;

interface Watch {
  sessionId: string;
  watcher: TreeWatch;
  pending: Map<string, NodeJS.Timeout>;
}

/**
 * Whether a stored manifest's service gets room storage mounted: its mounts as the launcher
 * computes them (normalizeManifest), so the implicit `/data` of an agent-template service —
 * every service that declares no storage — counts, not only `container.storage.room`.
 */
export function mountsRoomStorage(spec: unknown): boolean {
  const v = validateManifestObject(spec);
  return v.ok && normalizeManifest(v.manifest).storageMounts.length > 0;
}

export class MountEvents {
  private readonly rooms: RoomManager;
  private readonly log: Logger;
  private readonly watches = new Map<string, Watch>();

  constructor(d: { rooms: RoomManager; launcher: ServiceLauncher; logger: Logger }) {
    this.rooms = d.rooms;
    this.log = d.logger.child({ component: "mount-events" });
    d.launcher.serviceStarted.on("started", (e) => {
      if (mountsRoomStorage(e.record.spec)) this.start(e.room, e.sessionId);
    });
    d.rooms.events.on("event", (e) => {
      if (e.type === "session.ended") this.stop(e.room, e.sessionId);
    });
  }

  private start(room: string, sessionId: string): void {
    const existing = this.watches.get(room);
    if (existing?.sessionId === sessionId) return;
    if (existing !== undefined) this.stop(room, existing.sessionId);
    const r = this.rooms.get(room);
    if (r === undefined) return;
    const root = r.storage.root;
    const pending = new Map<string, NodeJS.Timeout>();
    const changed = (rel: string) => {
      const t = pending.get(rel);
      if (t !== undefined) t.refresh();
      else if (pending.size >= MAX_PENDING) this.log.warn({ room, path: rel }, "too many storage changes pending; dropping an event");
      else pending.set(rel, setTimeout(() => void this.announce(room, w, rel), QUIET_MS));
    };
    let watcher: TreeWatch;
    try {
      watcher = new TreeWatch(root, {
        onChange: changed,
        skip: (rel) => rel.split("/").some((seg) => seg.startsWith(".")),
        onProblem: (message, err) => this.log.warn({ err, room }, `room storage watch: ${message}`),
        maxDirs: MAX_DIRS,
      });
    } catch (err) {
      this.log.warn({ err, room }, "cannot watch room storage; writes through service mounts raise no storage events");
      return;
    }
    const w: Watch = { sessionId, watcher, pending };
    this.watches.set(room, w);
  }

  private async announce(room: string, w: Watch, rel: string): Promise<void> {
    w.pending.delete(rel);
    const r = this.rooms.get(room);
    if (r === undefined || this.watches.get(room) !== w) return;
    // Through RoomStorage, which walks the path by directory fds and never follows a symlink:
    // a service may plant links in its mount, and the server must not look behind them.
    let identity: string | null;
    try {
      const { fh } = await r.storage.openRead(rel);
      try {
        identity = fileIdentity(await fh.stat());
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (err instanceof ToolError && err.code === 404) identity = null;
      else return; // a folder, a symlink, an invalid name: not a file to announce
    }
    if (r.storage.apiChanges.consume(rel, identity)) return;
    if (identity === null) r.broadcastEvent("storage.file.deleted", { path: rel, participant_id: null });
    else r.broadcastEvent("storage.file.updated", { path: rel, participant_id: null });
  }

  private stop(room: string, sessionId: string): void {
    const w = this.watches.get(room);
    if (w === undefined || w.sessionId !== sessionId) return;
    this.watches.delete(room);
    w.watcher.close();
    for (const t of w.pending.values()) clearTimeout(t);
  }

  close(): void {
    for (const [room, w] of [...this.watches]) this.stop(room, w.sessionId);
  }
}
