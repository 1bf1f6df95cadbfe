import { useEffect, useState, type FormEvent } from "react";
import { useApi } from "../App.tsx";
import { errorText } from "../api.ts";
import { dateTime, useLoad } from "../hooks.ts";
import type { SecretInfo } from "../types.ts";

/** UTF-8 text as base64 (the API's `data_base64`). */
function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * `/secrets`: project secrets by name. Values are write-only: typed into a password field,
 * sent once, cleared, and never shown again (the API never returns them).
 */
export function SecretsPage() {
  const api = useApi();
  const list = useLoad(async () => (await api.get<{ secrets: SecretInfo[] }>(api.project("/secrets"))).secrets, [api]);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [newValue, setNewValue] = useState("");
  const [confirm, setConfirm] = useState<string | null>(null);
  useEffect(() => {
    document.title = "Secrets · Studio";
  }, []);

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
    void run(() => api.post(api.project("/secrets"), { name: n, type: "opaque", data_base64: data }), `Secret ${n} saved. Its value cannot be shown again.`).then((ok) => {
      if (!ok) return;
      setName("");
      setValue("");
    });
  };
  const update = (s: SecretInfo) => (e: FormEvent) => {
    e.preventDefault();
    const data = toBase64(newValue);
    void run(() => api.put(api.project(`/secrets/${encodeURIComponent(s.id)}`), { data_base64: data }), `Secret ${s.name} updated; services get the new value at their next start.`).then((ok) => {
      if (!ok) return;
      setNewValue("");
      setEditing(null);
    });
  };

  return (
    <div className="page">
      <header className="page-head">
        <div>
          <h1>Secrets</h1>
          <p className="muted">Values are write-only: once saved, no page, API response or log shows them. Services reference a secret by name (<code>secret: {"{ id: NAME }"}</code>).</p>
        </div>
      </header>
      {note !== null && <div className="notice ok" role="status"><p>{note}</p></div>}
      {problem !== null && <div className="notice bad" role="alert"><p>{problem}</p></div>}
      <form className="panel inline-form secret-form" onSubmit={create} aria-label="New secret">
        <div className="field">
          <label htmlFor="s-name">Secret name</label>
          <input id="s-name" required value={name} onChange={(e) => setName(e.target.value)} spellCheck={false} autoComplete="off" />
        </div>
        <div className="field grow">
          <label htmlFor="s-value">Secret value</label>
          <input id="s-value" type="password" required value={value} onChange={(e) => setValue(e.target.value)} autoComplete="new-password" spellCheck={false} />
        </div>
        <button type="submit" className="primary" disabled={name.trim() === "" || value === ""}>Save secret</button>
      </form>
      <section className="panel" aria-label="Secret list">
        {list.error !== null && <p role="alert" className="error">{list.error}</p>}
        {list.data !== null && list.data.length === 0 && <p className="empty">No secrets yet.</p>}
        {list.data !== null && list.data.length > 0 && (
          <table className="grid-table">
            <thead><tr><th scope="col">Name</th><th scope="col">Value</th><th scope="col">Updated</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.data.map((s) => (
                <tr key={s.id}>
                  <td className="mono">{s.name}</td>
                  <td className="muted" aria-label="value hidden">••••••••</td>
                  <td>{dateTime(s.updated_at)}</td>
                  <td className="actions">
                    {editing === s.id ? (
                      <form className="inline-form" onSubmit={update(s)}>
                        <input type="password" aria-label={`New value for ${s.name}`} value={newValue} onChange={(e) => setNewValue(e.target.value)} autoComplete="new-password" required autoFocus />
                        <button type="submit" className="primary" disabled={newValue === ""}>Update</button>
                        <button type="button" onClick={() => { setEditing(null); setNewValue(""); }}>Cancel</button>
                      </form>
                    ) : (
                      <button type="button" onClick={() => { setEditing(s.id); setNewValue(""); }} aria-label={`Replace value of ${s.name}`}>Replace value</button>
                    )}
                    {confirm === s.id ? (
                      <>
                        <button type="button" className="danger" onClick={() => { setConfirm(null); void run(() => api.delete(api.project(`/secrets/${encodeURIComponent(s.id)}`)), `Secret ${s.name} deleted.`); }}>Delete {s.name}</button>
                        <button type="button" onClick={() => setConfirm(null)}>Cancel</button>
                      </>
                    ) : (
                      <button type="button" onClick={() => setConfirm(s.id)} aria-label={`Delete secret ${s.name}…`}>Delete</button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
