import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { useApi } from "../App.tsx";
import { errorText, type Api } from "../api.ts";
import { dateTime, useLoad } from "../hooks.ts";
import type { RoomInfo, SecretInfo } from "../types.ts";

/**
 * Which secrets a list shows: the project's, one room's (with a form to add one), or every
 * room's (a Room column; they are added on their room's page).
 */
export type SecretScope = { kind: "project" } | { kind: "room"; room: string } | { kind: "all-rooms" };

/** A secret with the room it belongs to (null: a project secret). */
interface Row {
  info: SecretInfo;
  room: string | null;
}

/** UTF-8 text as base64 (the API's `data_base64`). */
function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

const secretsUrl = (api: Api, room: string | null, path = "") => (room === null ? api.project(`/secrets${path}`) : api.room(room, `/secrets${path}`));

async function loadRows(api: Api, scope: SecretScope): Promise<Row[]> {
  if (scope.kind !== "all-rooms") {
    const room = scope.kind === "room" ? scope.room : null;
    return (await api.get<{ secrets: SecretInfo[] }>(secretsUrl(api, room))).secrets.map((info) => ({ info, room }));
  }
  // Rooms are few (one list request each); a room listed but gone meanwhile answers [].
  const rooms = (await api.get<{ rooms: RoomInfo[] }>(api.project("/rooms"))).rooms.map((r) => r.name).sort();
  const lists = await Promise.all(rooms.map(async (room) => (await api.get<{ secrets: SecretInfo[] }>(secretsUrl(api, room))).secrets.map((info) => ({ info, room }))));
  return lists.flat();
}

/**
 * Secrets of one scope by name: create (project and room scopes), replace a value, delete.
 * Values are write-only: typed into a password field, sent once, cleared, and never shown
 * again (the API never returns them).
 */
export function SecretList({ scope }: { scope: SecretScope }) {
  const api = useApi();
  const key = scope.kind === "room" ? `room:${scope.room}` : scope.kind;
  const list = useLoad(() => loadRows(api, scope), [api, key]);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [newValue, setNewValue] = useState("");
  const [confirm, setConfirm] = useState<string | null>(null);
  const room = scope.kind === "room" ? scope.room : null;
  // Labels: the project list keeps the plain ones; a room's say so (both can be on one page).
  const word = scope.kind === "project" ? "Secret" : "Room secret";
  const where = (r: Row) => (r.room === null || scope.kind === "room" ? "" : ` in room ${r.room}`);

  /** Runs a write; true when it succeeded (the problem is shown otherwise). */
  const run = async (what: () => Promise<unknown>, done: string): Promise<boolean> => {
    setProblem(null);
    setNote(null);
    try {
      await what();
      setNote(done);
      list.reload();
      return true;
    } catch (err) {
      setProblem(errorText(err));
      return false;
    }
  };
  // The fields are cleared once saved; a refused save (a bad name) keeps what was typed, so
  // it can be corrected rather than typed again.
  const create = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    const data = toBase64(value);
    void run(() => api.post(secretsUrl(api, room), { name: n, type: "opaque", data_base64: data }), `${word} ${n} saved. Its value cannot be shown again.`).then((ok) => {
      if (!ok) return;
      setName("");
      setValue("");
    });
  };
  const rowKey = (r: Row) => `${r.room ?? ""}/${r.info.id}`;
  const update = (r: Row) => (e: FormEvent) => {
    e.preventDefault();
    const data = toBase64(newValue);
    void run(() => api.put(secretsUrl(api, r.room, `/${encodeURIComponent(r.info.id)}`), { data_base64: data }), `${word} ${r.info.name}${where(r)} updated; services get the new value at their next start.`).then((ok) => {
      if (!ok) return;
      setNewValue("");
      setEditing(null);
    });
  };
  const idPrefix = scope.kind === "project" ? "s" : `rs-${key.replace(/[^A-Za-z0-9_-]/g, "-")}`;

  return (
    <>
      {note !== null && <div className="notice ok" role="status"><p>{note}</p></div>}
      {problem !== null && <div className="notice bad" role="alert"><p>{problem}</p></div>}
      {scope.kind !== "all-rooms" && (
        <form className="panel inline-form secret-form" onSubmit={create} aria-label={`New ${word.toLowerCase()}`}>
          <div className="field">
            <label htmlFor={`${idPrefix}-name`}>{word} name</label>
            <input id={`${idPrefix}-name`} required value={name} onChange={(e) => setName(e.target.value)} spellCheck={false} autoComplete="off" />
          </div>
          <div className="field grow">
            <label htmlFor={`${idPrefix}-value`}>{word} value</label>
            <input id={`${idPrefix}-value`} type="password" required value={value} onChange={(e) => setValue(e.target.value)} autoComplete="new-password" spellCheck={false} />
          </div>
          <button type="submit" className="primary" disabled={name.trim() === "" || value === ""}>Save {word.toLowerCase()}</button>
        </form>
      )}
      <div aria-label={`${word} list`} role="group">
        {list.error !== null && <p role="alert" className="error">{list.error}</p>}
        {list.data !== null && list.data.length === 0 && (
          <p className="empty">{scope.kind === "project" ? "No secrets yet." : scope.kind === "room" ? "No room secrets." : "No room has secrets. Add one on its room's page."}</p>
        )}
        {list.data !== null && list.data.length > 0 && (
          <table className="grid-table">
            <thead>
              <tr>
                {scope.kind === "all-rooms" && <th scope="col">Room</th>}
                <th scope="col">Name</th><th scope="col">Value</th><th scope="col">Updated</th><th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((r) => {
                const k = rowKey(r);
                const s = r.info;
                return (
                  <tr key={k}>
                    {scope.kind === "all-rooms" && <td><Link to={`/rooms/${encodeURIComponent(r.room!)}`}>{r.room}</Link></td>}
                    <td className="mono">{s.name}</td>
                    <td className="muted" aria-label="value hidden">••••••••</td>
                    <td>{dateTime(s.updated_at)}</td>
                    <td className="actions">
                      {editing === k ? (
                        <form className="inline-form" onSubmit={update(r)}>
                          <input type="password" aria-label={`New value for ${s.name}${where(r)}`} value={newValue} onChange={(e) => setNewValue(e.target.value)} autoComplete="new-password" required autoFocus />
                          <button type="submit" className="primary" disabled={newValue === ""}>Update</button>
                          <button type="button" onClick={() => { setEditing(null); setNewValue(""); }}>Cancel</button>
                        </form>
                      ) : (
                        <button type="button" onClick={() => { setEditing(k); setNewValue(""); }} aria-label={`Replace value of ${s.name}${where(r)}`}>Replace value</button>
                      )}
                      {confirm === k ? (
                        <>
                          <button type="button" className="danger" onClick={() => { setConfirm(null); void run(() => api.delete(secretsUrl(api, r.room, `/${encodeURIComponent(s.id)}`)), `${word} ${s.name}${where(r)} deleted.`); }}>Delete {s.name}</button>
                          <button type="button" onClick={() => setConfirm(null)}>Cancel</button>
                        </>
                      ) : (
                        <button type="button" onClick={() => setConfirm(k)} aria-label={`Delete secret ${s.name}${where(r)}…`}>Delete</button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}
