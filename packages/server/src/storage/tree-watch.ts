import { watch, type FSWatcher } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/** Options of a TreeWatch. */
export interface TreeWatchOptions {
  /** A path (relative to the root, "/"-separated) changed: created, written, renamed or removed. */
  onChange(rel: string): void;
  /** Paths (files and folders) not to report nor descend into. */
  skip(rel: string): boolean;
  /** Something could not be watched (the first time the folder bound is reached, a watch error). */
  onProblem(message: string, err?: unknown): void;
  /** Folders watched at most; deeper or later ones are not (reported once through onProblem). */
  maxDirs: number;
}

/** The lifecycle of a TreeWatch. */
type WatchState = { kind: "running" } | { kind: "closed" };

/**
 * Watches a folder tree with one inotify watch per folder (a non-recursive `fs.watch` on each
 * folder; a change in a folder names the child). New subfolders are found from their parent's
 * event and watched, and what was written into them before their watch existed is reported
 * from one asynchronous listing.
 *
 * Why not `fs.watch(root, {recursive: true})`: on Linux Node (24) implements it in JavaScript
 * by walking the tree with readdirSync, a statSync and a watch per *file*, and it re-reads a
 * whole folder synchronously on every change in it — a service writing 3,000 files into one
 * folder held the server's event loop for O(n²) directory reads. Here the work is
 * asynchronous, per folder, and bounded by `maxDirs`.
 *
 * Symlinks are never descended into (lstat); whatever a changed path is, the caller reads it
 * through RoomStorage, which never follows links.
 */
export class TreeWatch {
  private state: WatchState = { kind: "running" };
  private readonly dirs = new Map<string, FSWatcher>();
  private readonly root: string;
  private readonly o: TreeWatchOptions;
  private warnedFull = false;

  /** Starts watching `root` (which must exist); its existing subfolders are added in the background. */
  constructor(root: string, o: TreeWatchOptions) {
    this.root = root;
    this.o = o;
    // Folders are watched one by one, asynchronously: what is written into one before its
    // watch exists is found by its mtime (a folder's mtime moves when an entry is created,
    // removed or renamed in it), with a margin for coarse file system clocks.
    this.since = Date.now() - 1000;
    this.addDir("");
    void this.scan("", false);
  }

  private readonly since: number;

  /** Folders watched now (for tests and diagnostics). */
  get watchedDirs(): number {
    return this.dirs.size;
  }

  close(): void {
    this.state = { kind: "closed" };
    for (const w of this.dirs.values()) w.close();
    this.dirs.clear();
  }

  private abs(rel: string): string {
    return rel === "" ? this.root : join(this.root, rel);
  }

  private addDir(rel: string): void {
    if (this.state.kind === "closed" || this.dirs.has(rel)) return;
    if (this.dirs.size >= this.o.maxDirs) {
      if (!this.warnedFull) this.o.onProblem(`more than ${this.o.maxDirs} folders: changes in further folders (first: ${JSON.stringify(rel)}) are not reported`);
      this.warnedFull = true;
      return;
    }
    let w: FSWatcher;
    try {
      w = watch(this.abs(rel), { persistent: false }, (_type, name) => {
        if (name === null || this.state.kind === "closed") return;
        const child = rel === "" ? String(name) : `${rel}/${String(name)}`;
        if (this.o.skip(child)) return;
        this.o.onChange(child);
        void this.checkDir(child);
      });
    } catch (err) {
      // Gone already (removed between its event and here): nothing to watch.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") this.o.onProblem(`cannot watch ${JSON.stringify(rel)}`, err);
      return;
    }
    w.on("error", () => this.removeDir(rel));
    this.dirs.set(rel, w);
  }

  /** After a change at `rel`: a new folder is watched and its contents reported; a removed one is forgotten. */
  private async checkDir(rel: string): Promise<void> {
    const st = await lstat(this.abs(rel)).catch(() => null);
    if (this.state.kind === "closed") return;
    if (st === null || !st.isDirectory()) {
      if (this.dirs.has(rel)) this.removeDir(rel);
      return;
    }
    if (this.dirs.has(rel)) return;
    this.addDir(rel);
    await this.scan(rel, true);
  }

  /**
   * Lists a folder (already watched): watches its subfolders (recursively) and reports its
   * entries when `report` — or when the folder changed since the watch began (an entry
   * written before the folder's own watch existed).
   */
  private async scan(rel: string, report: boolean): Promise<void> {
    const entries = await readdir(this.abs(rel), { withFileTypes: true }).catch(() => []);
    if (!report) report = ((await lstat(this.abs(rel)).catch(() => null))?.mtimeMs ?? 0) >= this.since;
    for (const e of entries) {
      if (this.state.kind === "closed") return;
      const child = rel === "" ? e.name : `${rel}/${e.name}`;
      if (this.o.skip(child)) continue;
      if (report) this.o.onChange(child);
      if (e.isDirectory() && !this.dirs.has(child)) {
        this.addDir(child);
        if (this.dirs.has(child)) await this.scan(child, report);
      }
    }
  }

  /** Stops watching a folder and every folder below it. */
  private removeDir(rel: string): void {
    const prefix = `${rel}/`;
    for (const [d, w] of [...this.dirs]) {
      if (d === rel || (rel !== "" && d.startsWith(prefix))) {
        w.close();
        this.dirs.delete(d);
      }
    }
  }
}
