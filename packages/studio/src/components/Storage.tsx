import { useCallback, useEffect, useRef, useState } from "react";
import type { RoomClient, RoomEvent, StorageEntry } from "@meshagent/meshagent";
import { errorText } from "../api.ts";
import { bytes } from "./StatsChart.tsx";
import { FileIcon, FolderIcon } from "./icons.tsx";
import { ReloadScheduler, touchesFolder, type Timers } from "../storage-follow.ts";

/** Rows rendered at first (and added per "Show more"): a folder of 100,000 files must not hang the page. */
const PAGE_ROWS = 500;
/** A burst of storage events waits this long for quiet before the folder is listed again. */
const QUIET_MS = 300;
const byName = new Intl.Collator(undefined, { numeric: true });
const browserTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * The room's files through the Room API's storage toolkit (the joined SDK client): browse
 * folders, upload, download (a signed `storage/download` URL), delete with confirmation;
 * the folder follows the room's storage events (whoever wrote: a participant, a service
 * through its mount, the server saving a thread document). Long folders render PAGE_ROWS rows
 * at a time.
 */
export function Storage({ client }: { client: RoomClient | null }) {
  const [path, setPath] = useState("");
  const [entries, setEntries] = useState<StorageEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [shown, setShown] = useState(PAGE_ROWS);
  const fileInput = useRef<HTMLInputElement>(null);
  // The names listed now, for deciding whether an event deep below concerns this folder.
  const listed = useRef<ReadonlySet<string>>(new Set());

  const join = (name: string) => (path === "" ? name : `${path}/${name}`);
  // The folder on screen: a listing of another one that answers late is dropped.
  const current = useRef(path);
  current.current = path;
  const load = useCallback(async () => {
    if (client === null) return;
    try {
      const list = await client.storage.list(path);
      if (current.current !== path) return;
      list.sort((a, b) => Number(b.isFolder) - Number(a.isFolder) || byName.compare(a.name, b.name));
      listed.current = new Set(list.map((e) => e.name));
      setError(null);
      setEntries(list);
    } catch (err) {
      if (current.current !== path) return;
      listed.current = new Set();
      setEntries([]);
      setError(errorText(err));
    }
  }, [client, path]);
  useEffect(() => {
    setShown(PAGE_ROWS);
    void load();
  }, [load]);
  // Files change under the reader's eyes — uploads by others, a service's outputs through its
  // mount, thread documents the server saves: the room's storage events (every writer raises
  // them) reload the folder when they concern it, a burst as one reload (ReloadScheduler).
  useEffect(() => {
    if (client === null) return;
    const reloads = new ReloadScheduler(load, { timers: browserTimers, quietMs: QUIET_MS });
    const concerns = (p: unknown) => typeof p === "string" && touchesFolder(path, p, listed.current);
    // FileUpdatedEvent / FileDeletedEvent carry `path`, FileMovedEvent both paths.
    const onFile = (e: RoomEvent) => void (concerns((e as { path?: unknown }).path) && reloads.changed());
    const onMove = (e: RoomEvent) => {
      const m = e as { sourcePath?: unknown; destinationPath?: unknown };
      if (concerns(m.sourcePath) || concerns(m.destinationPath)) reloads.changed();
    };
    client.storage.on("file.updated", onFile);
    client.storage.on("file.deleted", onFile);
    client.storage.on("file.moved", onMove);
    return () => {
      client.storage.off("file.updated", onFile);
      client.storage.off("file.deleted", onFile);
      client.storage.off("file.moved", onMove);
      reloads.close();
    };
  }, [client, load, path]);

  if (client === null) return <p className="empty">Join the room (Chat) to browse, upload and download its files.</p>;

  const upload = async (files: FileList | null) => {
    if (files === null) return;
    for (const f of Array.from(files)) {
      setStatus(`Uploading ${f.name}…`);
      try {
        await client.storage.upload(join(f.name), new Uint8Array(await f.arrayBuffer()), { overwrite: true });
        setStatus(`Uploaded ${f.name}`);
      } catch (err) {
        setStatus(`Upload of ${f.name} failed: ${errorText(err)}`);
      }
    }
    if (fileInput.current) fileInput.current.value = "";
    await load();
  };
  const download = async (name: string) => {
    try {
      const url = await client.storage.downloadUrl(join(name));
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      a.click();
    } catch (err) {
      setStatus(`Download failed: ${errorText(err)}`);
    }
  };
  const remove = async (name: string, folder: boolean) => {
    setConfirm(null);
    try {
      await client.storage.delete(join(name), { recursive: folder });
      setStatus(`Deleted ${name}`);
    } catch (err) {
      setStatus(`Delete failed: ${errorText(err)}`);
    }
    await load();
  };

  const crumbs = path === "" ? [] : path.split("/");
  return (
    <div className="storage">
      <div className="toolbar">
        <nav aria-label="Folder" className="crumbs">
          <button type="button" className="link" onClick={() => setPath("")}>/</button>
          {crumbs.map((c, i) => (
            <span key={i}> <button type="button" className="link" onClick={() => setPath(crumbs.slice(0, i + 1).join("/"))}>{c}</button> /</span>
          ))}
        </nav>
        <label className="button">
          Upload files
          <input ref={fileInput} type="file" multiple className="sr-only" onChange={(e) => upload(e.target.files)} />
        </label>
        <button type="button" onClick={load}>Refresh</button>
      </div>
      {status !== null && <p role="status" className="small">{status}</p>}
      {error !== null && <p role="alert" className="error">{error}</p>}
      {entries !== null && entries.length === 0 && error === null && <p className="empty">This folder is empty.</p>}
      {entries !== null && entries.length > 0 && (
        <div className="files-scroll">
        <table className="files">
          <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {entries.slice(0, shown).map((e) => (
              <tr key={e.name}>
                <td className="name">{e.isFolder
                  ? <button type="button" className="link" onClick={() => setPath(join(e.name))}><FolderIcon /> {e.name}</button>
                  : <span className="mono"><FileIcon /> {e.name}</span>}</td>
                <td>{e.isFolder || e.size === null ? "" : bytes(e.size)}</td>
                <td className="actions">
                  {!e.isFolder && <button type="button" onClick={() => download(e.name)} aria-label={`Download ${e.name}`}>Download</button>}
                  {confirm === e.name ? (
                    <>
                      <button type="button" className="danger" onClick={() => remove(e.name, e.isFolder)}>Confirm delete</button>
                      <button type="button" onClick={() => setConfirm(null)}>Cancel</button>
                    </>
                  ) : (
                    <button type="button" onClick={() => setConfirm(e.name)} aria-label={`Delete ${e.name}`}>Delete</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
      {entries !== null && entries.length > shown && (
        <p className="small muted" role="status">
          Showing {shown.toLocaleString()} of {entries.length.toLocaleString()} entries.{" "}
          <button type="button" className="link" onClick={() => setShown((n) => n + PAGE_ROWS)}>Show {Math.min(PAGE_ROWS, entries.length - shown).toLocaleString()} more</button>
        </p>
      )}
    </div>
  );
}
