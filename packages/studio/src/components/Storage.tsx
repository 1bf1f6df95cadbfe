import { useCallback, useEffect, useRef, useState } from "react";
import type { RoomClient, StorageEntry } from "@meshagent/meshagent";
import { errorText } from "../api.ts";
import { bytes } from "./StatsChart.tsx";
import { FileIcon, FolderIcon } from "./icons.tsx";

/**
 * The room's files through the Room API's storage toolkit (the joined SDK client): browse
 * folders, upload, download (a signed `storage/download` URL), delete with confirmation;
 * the folder reloads when the room's files change.
 */
export function Storage({ client }: { client: RoomClient | null }) {
  const [path, setPath] = useState("");
  const [entries, setEntries] = useState<StorageEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const join = (name: string) => (path === "" ? name : `${path}/${name}`);
  const load = useCallback(async () => {
    if (client === null) return;
    try {
      setError(null);
      const list = await client.storage.list(path);
      setEntries(list.sort((a, b) => Number(b.isFolder) - Number(a.isFolder) || a.name.localeCompare(b.name)));
    } catch (err) {
      setEntries([]);
      setError(errorText(err));
    }
  }, [client, path]);
  useEffect(() => void load(), [load]);
  // Files change under the reader's eyes (uploads by others, a service's outputs): the Room
  // API's storage events reload the folder, at most every 500 ms.
  useEffect(() => {
    if (client === null) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const changed = () => {
      timer ??= setTimeout(() => {
        timer = null;
        void load();
      }, 500);
    };
    const names = ["file.updated", "file.deleted", "file.moved"];
    for (const n of names) client.storage.on(n, changed);
    return () => {
      for (const n of names) client.storage.off(n, changed);
      if (timer !== null) clearTimeout(timer);
    };
  }, [client, load]);

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
        <table className="files">
          <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.name}>
                <td>{e.isFolder
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
      )}
    </div>
  );
}
