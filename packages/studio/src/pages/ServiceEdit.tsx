import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { useApi } from "../App.tsx";
import { ApiError, errorText } from "../api.ts";
import { YamlEditor, errorText as manifestErrorText } from "../components/YamlEditor.tsx";
import { ServiceForm } from "../components/ServiceForm.tsx";
import { errorsByField } from "../form-errors.ts";
import { emptyForm, fromManifest, manifestOfRecord, toManifest, type FormModel, type Manifest } from "../manifest-form.ts";
import type { ManifestError, RoomLive, SecretInfo, ServiceRecord } from "../types.ts";

type Mode = "form" | "yaml";
/** GET .../services/{id}/source: the YAML text last saved from an editor, and the revision it describes. */
type Source = { yaml: string | null; revision: number | null; current_revision: number };

/** Equal as JSON values (key order ignored): does a YAML text still say what is stored? */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The YAML text's value, or undefined when it does not parse. */
function yamlValue(text: string): unknown {
  try {
    return parseYaml(text, { version: "1.1" }) as unknown;
  } catch {
    return undefined;
  }
}

const NOT_KEPT = "The YAML below is generated from the stored service: it was changed another way (the form or the API) since its YAML was saved, so the comments and layout of that text were not kept.";
/** What the server said it will not catch until the next session (e.g. an image not on the host). */
type SaveWarning = { path: string; message: string };
type Saved = { kind: "created"; name: string; warnings: SaveWarning[] } | { kind: "updated"; name: string; id: string; warnings: SaveWarning[] };


/**
 * Add or edit a service (`/services/new`, `/services/{id}`, and the same under
 * `/rooms/{room}`), as a form or as YAML. Saving tells when it takes effect: a new service
 * starts at the next session; an edit applies at the next session, or now with Restart.
 */
export function ServiceEditPage() {
  const { room, id } = useParams() as { room?: string; id?: string };
  const api = useApi();
  const navigate = useNavigate();
  const scope = room === undefined ? api.project("") : api.room(room);
  const listHref = room === undefined ? "/services" : `/rooms/${encodeURIComponent(room)}/services`;
  const [mode, setMode] = useState<Mode>("form");
  const [base, setBase] = useState<Manifest>({});
  const [form, setForm] = useState<FormModel>(emptyForm);
  const [text, setText] = useState("");
  const [errors, setErrors] = useState<ManifestError[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const location = useLocation();
  // After "Add", the page moves to the new service's own URL and still says what happens next.
  const createdState = location.state as { created?: string; warnings?: SaveWarning[] } | null;
  const created = createdState?.created;
  const [saved, setSaved] = useState<Saved | null>(created === undefined ? null : { kind: "created", name: created, warnings: createdState?.warnings ?? [] });
  const [restartNote, setRestartNote] = useState<string | null>(null);
  const [liveSession, setLiveSession] = useState(false);
  const [secrets, setSecrets] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [loaded, setLoaded] = useState(id === undefined);
  // Why the YAML shown is not the user's own text (null when it is, or there never was one).
  const [sourceNote, setSourceNote] = useState<string | null>(null);
  // Save is at the foot of a long form and its outcome at the head: bring the outcome into
  // view (and focus, for screen readers) whenever it changes, or Save looks like it did nothing.
  const outcome = useRef<HTMLDivElement>(null);
  // The form as it was saved: errors name manifest paths, mapped to that form's rows.
  const [savedForm, setSavedForm] = useState<FormModel | null>(null);
  const byField = mode === "form" && savedForm !== null ? errorsByField(errors, savedForm) : new Map<string | null, ManifestError[]>();
  const firstInvalid = [...byField.keys()].find((k): k is string => k !== null) ?? null;
  useEffect(() => {
    if (problem === null && saved === null) return;
    // Errors on form fields: the first invalid field gets focus (its message is linked to it).
    const field = firstInvalid === null ? null : document.getElementById(firstInvalid);
    if (field !== null) {
      field.scrollIntoView?.({ block: "center" });
      field.focus({ preventScroll: true });
      return;
    }
    outcome.current?.scrollIntoView?.({ block: "nearest" });
    outcome.current?.focus({ preventScroll: true });
  }, [problem, saved, errors]);

  useEffect(() => {
    document.title = `${id === undefined ? "Add service" : "Edit service"} · Studio`;
    let cancelled = false;
    (async () => {
      try {
        const lists = [api.get<{ secrets: SecretInfo[] }>(api.project("/secrets"))];
        if (room !== undefined) lists.push(api.get<{ secrets: SecretInfo[] }>(api.room(room, "/secrets")));
        const names = (await Promise.all(lists)).flatMap((l) => l.secrets.map((s) => s.name));
        if (!cancelled) setSecrets([...new Set(names)].sort());
        if (id !== undefined) {
          const s = await api.get<ServiceRecord>(`${scope}/services/${encodeURIComponent(id)}`);
          if (cancelled) return;
          const m = manifestOfRecord(s);
          // The user's own YAML text when it still says what is stored (an older server has no
          // source route: the text is generated then).
          const src = await api.get<Source>(`${scope}/services/${encodeURIComponent(id)}/source`).catch(() => null);
          if (cancelled) return;
          const own = src?.yaml != null && src.revision === s.revision && sameValue(yamlValue(src.yaml), m);
          setBase(m);
          setForm(fromManifest(m));
          setText(own ? src!.yaml! : stringifyYaml(m));
          setSourceNote(src?.yaml != null && !own ? NOT_KEPT : null);
          setLoaded(true);
        }
      } catch (err) {
        if (!cancelled) setProblem(errorText(err));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [api, id, room, scope]);

  useEffect(() => {
    if (room === undefined || saved?.kind !== "updated") return;
    api.get<RoomLive>(api.room(room, "/live")).then((l) => setLiveSession(l.session !== null), () => setLiveSession(false));
  }, [api, room, saved]);

  const validate = async (yamlText: string): Promise<ManifestError[]> => {
    const r = await api.post<{ ok: boolean; errors?: ManifestError[] }>(api.project("/services/validate"), { yaml: yamlText });
    return r.ok ? [] : r.errors ?? [];
  };

  const switchMode = (next: Mode) => {
    if (next === mode) return;
    setProblem(null);
    if (next === "yaml") {
      // Keep the user's text (comments, layout) when the form changed nothing it says.
      const m = toManifest(form, base);
      if (!sameValue(yamlValue(text), m)) {
        if (/(^|\s)#/.test(text)) setSourceNote("The YAML below is generated from the form: the comments of the earlier text were not kept.");
        setText(stringifyYaml(m));
      }
      setMode("yaml");
      return;
    }
    try {
      const m = parseYaml(text, { version: "1.1" }) as unknown;
      if (typeof m !== "object" || m === null || Array.isArray(m)) throw new Error("the YAML is not a mapping");
      setBase(m as Manifest);
      setForm(fromManifest(m as Manifest));
      setMode("form");
    } catch (err) {
      setProblem(`Fix the YAML before switching to the form: ${errorText(err)}`);
    }
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    setErrors([]);
    setSaved(null);
    setRestartNote(null);
    try {
      let manifest: Manifest;
      if (mode === "yaml") {
        const errs = await validate(text);
        if (errs.length > 0) {
          setErrors(errs);
          setProblem("The manifest has errors; nothing was saved.");
          return;
        }
        manifest = parseYaml(text, { version: "1.1" }) as Manifest;
      } else {
        manifest = toManifest(form, base);
        setSavedForm(form);
      }
      const name = String((manifest.metadata as { name?: string } | undefined)?.name ?? "");
      // Saved from the YAML editor: the text is kept beside the service (its comments and
      // layout come back next time); the service itself is the JSON above.
      const keepText = async (serviceId: string, revision: number | undefined) => {
        if (mode !== "yaml" || revision === undefined) return;
        try {
          await api.put(`${scope}/services/${encodeURIComponent(serviceId)}/source`, { yaml: text, revision });
          setSourceNote(null);
        } catch (err) {
          // The service is saved; only its text is not (e.g. saved again meanwhile elsewhere).
          setSourceNote(`Saved, but the YAML text was not kept (${errorText(err)}): it is generated next time.`);
        }
      };
      if (id === undefined) {
        const r = await api.post<{ id: string; warnings?: SaveWarning[] }>(`${scope}/services`, manifest);
        await keepText(r.id, 1);
        const warnings = r.warnings ?? [];
        navigate(`${listHref}/${encodeURIComponent(r.id)}`, { replace: true, state: { created: name, warnings } });
        setSaved({ kind: "created", name, warnings });
      } else {
        const r = await api.put<{ warnings?: SaveWarning[]; revision?: number } | undefined>(`${scope}/services/${encodeURIComponent(id)}`, manifest);
        await keepText(id, r?.revision);
        setBase(manifest);
        setSaved({ kind: "updated", name, id, warnings: r?.warnings ?? [] });
      }
    } catch (err) {
      if (err instanceof ApiError && err.errors.length > 0) {
        setErrors(err.errors);
        setProblem("The manifest has errors; nothing was saved.");
      } else setProblem(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const restartNow = async () => {
    if (room === undefined || id === undefined) return;
    try {
      await api.post(api.room(room, `/services/${encodeURIComponent(id)}/restart`));
      // A fact, not a progress label: this page does not follow the service's state (the
      // room page does), so it never claims a restart is still going on.
      setRestartNote("Restart requested: the live session starts the new version. Its progress is on the room page.");
    } catch (err) {
      setRestartNote(errorText(err));
    }
  };

  const where = room === undefined ? "every room" : `room ${room}`;
  return (
    <div className="page">
      <header className="page-head">
        <div>
          <p className="crumbs">
            {room !== undefined && <><Link to="/rooms">Rooms</Link> / <Link to={`/rooms/${encodeURIComponent(room)}`}>{room}</Link> / </>}
            <Link to={listHref}>Services</Link> /
          </p>
          <h1>{id === undefined ? "Add service" : `Edit ${form.name || "service"}`}</h1>
          <p className="muted">{room === undefined ? "A project service runs in every room of the project." : `A room service runs only in room ${room}.`}</p>
        </div>
        <div className="tabs" role="tablist" aria-label="Editor">
          <button type="button" role="tab" aria-selected={mode === "form"} onClick={() => switchMode("form")}>Form</button>
          <button type="button" role="tab" aria-selected={mode === "yaml"} onClick={() => switchMode("yaml")}>YAML</button>
        </div>
      </header>

      <div ref={outcome} tabIndex={-1} className="outcome">
      {saved !== null && (
        <div className="notice ok" role="status">
          {saved.kind === "created" ? (
            <p>Saved. <strong>{saved.name}</strong> starts at the next session of {where}.{room !== undefined && <> <Link to={`/rooms/${encodeURIComponent(room)}`}>Open room {room}</Link></>}</p>
          ) : (
            <p>
              Saved. The change applies at the next session{room !== undefined ? ` of room ${room}` : ""}.
              {room !== undefined && liveSession && <> Or <button type="button" onClick={restartNow}>Restart now</button> to apply it to the live session.</>}
            </p>
          )}
          {restartNote !== null && <p className="small">{restartNote}{room !== undefined && <> <Link to={`/rooms/${encodeURIComponent(room)}`}>Open room {room}</Link></>}</p>}
        </div>
      )}
      {saved !== null && saved.warnings.length > 0 && (
        <div className="notice warn" role="alert" aria-label="Warnings">
          <p>Saved, but it will not start as is:</p>
          <ul>{saved.warnings.map((w, i) => <li key={i}><code>{w.path}</code>: {w.message}</li>)}</ul>
        </div>
      )}
      {problem !== null && <div className="notice bad" role="alert"><p>{problem}</p></div>}
      {errors.length > 0 && (
        <ul className="errors" aria-label="Manifest errors">
          {errors.map((e, i) => {
            const text = <>{e.line !== undefined ? `Line ${e.line}${e.column !== undefined ? `, column ${e.column}` : ""}: ` : ""}{manifestErrorText(e)}</>;
            // In the form, each error links to its field (focus moves there).
            const field = [...byField.entries()].find(([, errs]) => errs.includes(e))?.[0] ?? null;
            return <li key={i}>{field === null ? text : <a href={`#${field}`} onClick={(ev) => { ev.preventDefault(); document.getElementById(field)?.focus(); }}>{text}</a>}</li>;
          })}
        </ul>
      )}
      </div>

      {!loaded ? (problem === null && <p className="muted" aria-busy="true">Loading…</p>) : (
        <form onSubmit={save} className="panel editor" aria-label={id === undefined ? "Add service" : "Edit service"}>
          {mode === "form" ? (
            <ServiceForm value={form} onChange={setForm} secrets={secrets} errors={byField} />
          ) : (
            <>
              {sourceNote !== null && <p className="notice warn" role="note">{sourceNote}</p>}
              <YamlEditor value={text} onChange={setText} validate={validate} />
            </>
          )}
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy}>Save</button>
            <Link className="button ghost" to={listHref}>Cancel</Link>
          </div>
        </form>
      )}
    </div>
  );
}
