import { createContext, useContext, type ReactNode } from "react";
import { emptyEnv, emptyMount, emptyPort, type FormModel, type ProbeRow } from "../manifest-form.ts";
import { digitsOnly, fieldId } from "../form-errors.ts";
import type { ManifestError } from "../types.ts";
import { CloseIcon } from "./icons.tsx";

/** The server's errors per input id (form-errors.ts `errorsByField`). */
const FieldErrors = createContext<Map<string | null, ManifestError[]>>(new Map());

/** Id of the inline message of input `id`. */
export const errorIdOf = (id: string): string => `${id}-error`;

/**
 * `aria-invalid` and `aria-describedby` for input `id`: its own errors (shown next to it by
 * <InlineError>), then its hint. Spread onto the input.
 */
function useInvalid(id: string, hint = false): { id: string; "aria-invalid"?: true; "aria-describedby"?: string } {
  const errs = useContext(FieldErrors).get(id);
  const by = [errs !== undefined ? errorIdOf(id) : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ");
  return { id, ...(errs !== undefined ? { "aria-invalid": true as const } : {}), ...(by !== "" ? { "aria-describedby": by } : {}) };
}

/** The messages of input `id`, right under it (what is wrong and what was expected). */
function InlineError({ id }: { id: string }) {
  const errs = useContext(FieldErrors).get(id);
  if (errs === undefined) return null;
  return (
    <p className="field-error" id={errorIdOf(id)}>
      {errs.map((e) => `${e.message}${e.expected !== undefined ? ` (expected ${e.expected})` : ""}`).join("; ")}
    </p>
  );
}

/** An input with its errors: the input's own props plus the inline message after it. */
function Inv({ id, hint, children }: { id: string; hint?: boolean; children: (p: ReturnType<typeof useInvalid>) => ReactNode }) {
  const p = useInvalid(id, hint);
  return <>{children(p)}</>;
}

function Field({ label, id, hint, children }: { label: string; id: string; hint?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      <InlineError id={id} />
      {hint !== undefined && <p className="hint" id={`${id}-hint`}>{hint}</p>}
    </div>
  );
}

/**
 * The Add/Edit service form: name, image, command, environment rows (value / secret /
 * token), ports with type and liveness path, probes, room storage mounts and resources.
 */
export function ServiceForm({ value: f, onChange, secrets, errors }: { value: FormModel; onChange: (f: FormModel) => void; secrets: string[]; errors?: Map<string | null, ManifestError[]> }) {
  const set = <K extends keyof FormModel>(k: K, v: FormModel[K]) => onChange({ ...f, [k]: v });
  const setRow = <K extends "env" | "ports" | "mounts">(k: K, i: number, patch: Partial<FormModel[K][number]>) =>
    onChange({ ...f, [k]: f[k].map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  const removeRow = (k: "env" | "ports" | "mounts", i: number) => onChange({ ...f, [k]: f[k].filter((_, j) => j !== i) });
  const setProbe = (k: keyof FormModel["probes"], patch: Partial<ProbeRow>) => onChange({ ...f, probes: { ...f.probes, [k]: { ...f.probes[k], ...patch } } });

  return (
    <FieldErrors.Provider value={errors ?? new Map()}>
    <div className="service-form">
      <fieldset>
        <legend>Service</legend>
        <div className="row2">
          <Field label="Name" id="f-name"><Inv id="f-name">{(p) => <input {...p} required value={f.name} onChange={(e) => set("name", e.target.value)} spellCheck={false} />}</Inv></Field>
          <Field label="Image" id="f-image" hint="Must already exist on the server (roomservice image build).">
            <Inv id="f-image" hint>{(p) => <input {...p} required value={f.image} onChange={(e) => set("image", e.target.value)} spellCheck={false} />}</Inv>
          </Field>
        </div>
        <Field label="Command" id="f-command" hint="Optional; split like shell words, but no shell runs it.">
          <Inv id="f-command" hint>{(p) => <input {...p} className="mono" value={f.command} onChange={(e) => set("command", e.target.value)} spellCheck={false} />}</Inv>
        </Field>
        <Field label="Description" id="f-desc"><Inv id="f-desc">{(p) => <input {...p} value={f.description} onChange={(e) => set("description", e.target.value)} />}</Inv></Field>
        <label className="check"><Inv id="f-enabled">{(p) => <input {...p} type="checkbox" checked={f.enabled} onChange={(e) => set("enabled", e.target.checked)} />}</Inv> Enabled</label>
        <InlineError id="f-enabled" />
      </fieldset>

      <fieldset>
        <legend>Environment</legend>
        {f.env.length === 0 && <p className="muted small">No variables.</p>}
        <datalist id="secret-names">{secrets.map((s) => <option key={s} value={s} />)}</datalist>
        {f.env.map((e, i) => (
          <div className="rowline" key={i}>
            <Inv id={fieldId.env(i, "name")}>{(p) => <input {...p} aria-label={`Variable ${i + 1} name`} placeholder="NAME" className="mono" value={e.name} onChange={(ev) => setRow("env", i, { name: ev.target.value })} />}</Inv>
            <select aria-label={`Variable ${i + 1} kind`} value={e.kind} onChange={(ev) => setRow("env", i, { kind: ev.target.value as typeof e.kind })}>
              <option value="value">value</option>
              <option value="secret">secret</option>
              <option value="token">token</option>
            </select>
            {e.kind === "value" && <Inv id={fieldId.env(i, "value")}>{(p) => <input {...p} aria-label={`Variable ${i + 1} value`} placeholder="value" value={e.value} onChange={(ev) => setRow("env", i, { value: ev.target.value })} />}</Inv>}
            {e.kind === "secret" && <Inv id={fieldId.env(i, "secret")}>{(p) => <input {...p} aria-label={`Variable ${i + 1} secret`} placeholder="secret name" list="secret-names" value={e.secretId} onChange={(ev) => setRow("env", i, { secretId: ev.target.value })} />}</Inv>}
            {e.kind === "token" && (
              <>
                <Inv id={fieldId.env(i, "identity")}>{(p) => <input {...p} aria-label={`Variable ${i + 1} token identity`} placeholder="identity" value={e.identity} onChange={(ev) => setRow("env", i, { identity: ev.target.value })} />}</Inv>
                <select aria-label={`Variable ${i + 1} token role`} value={e.role} onChange={(ev) => setRow("env", i, { role: ev.target.value })}>
                  <option value="agent">agent</option>
                  <option value="user">user</option>
                  <option value="tool">tool</option>
                </select>
              </>
            )}
            <button type="button" className="ghost" aria-label={`Remove variable ${i + 1}`} onClick={() => removeRow("env", i)}><CloseIcon /></button>
            {(["name", "value", "secret", "identity"] as const).map((k) => <InlineError key={k} id={fieldId.env(i, k)} />)}
          </div>
        ))}
        <button type="button" onClick={() => set("env", [...f.env, emptyEnv()])}>Add variable</button>
      </fieldset>

      <fieldset>
        <legend>Ports</legend>
        {f.ports.length === 0 && <p className="muted small">No ports.</p>}
        {f.ports.map((p, i) => (
          <div className="rowline" key={i}>
            <Inv id={fieldId.port(i, "num")}>{(a) => <input {...a} aria-label={`Port ${i + 1} number`} placeholder="8080" inputMode="numeric" pattern="[0-9]*" value={p.num} onChange={(ev) => setRow("ports", i, { num: digitsOnly(ev.target.value) })} />}</Inv>
            <select id={fieldId.port(i, "type")} aria-label={`Port ${i + 1} type`} value={p.type} onChange={(ev) => setRow("ports", i, { type: ev.target.value as "http" | "tcp" })}>
              <option value="http">http</option>
              <option value="tcp">tcp</option>
            </select>
            <Inv id={fieldId.port(i, "liveness")}>{(a) => <input {...a} aria-label={`Port ${i + 1} liveness path`} placeholder="/healthz (http)" value={p.liveness} disabled={p.type === "tcp"} onChange={(ev) => setRow("ports", i, { liveness: ev.target.value })} />}</Inv>
            <button type="button" className="ghost" aria-label={`Remove port ${i + 1}`} onClick={() => removeRow("ports", i)}><CloseIcon /></button>
            {(["num", "type", "liveness"] as const).map((k) => <InlineError key={k} id={fieldId.port(i, k)} />)}
          </div>
        ))}
        <button type="button" onClick={() => set("ports", [...f.ports, emptyPort()])}>Add port</button>
      </fieldset>

      <fieldset>
        <legend>Health probes</legend>
        {(["startup", "readiness", "liveness"] as const).map((k) => (
          <div className="rowline" key={k}>
            <span className="probe-name">{k}</span>
            <select id={fieldId.probe(k, "kind")} aria-label={`${k} probe`} value={f.probes[k].kind} onChange={(ev) => setProbe(k, { kind: ev.target.value as ProbeRow["kind"] })}>
              <option value="none">none</option>
              <option value="httpGet">HTTP GET</option>
              <option value="tcpSocket">TCP connect</option>
            </select>
            {f.probes[k].kind === "httpGet" && <Inv id={fieldId.probe(k, "path")}>{(p) => <input {...p} aria-label={`${k} probe path`} placeholder="/ready" value={f.probes[k].path} onChange={(ev) => setProbe(k, { path: ev.target.value })} />}</Inv>}
            {f.probes[k].kind !== "none" && <Inv id={fieldId.probe(k, "port")}>{(p) => <input {...p} aria-label={`${k} probe port`} placeholder="port (default: first port)" inputMode="numeric" pattern="[0-9]*" value={f.probes[k].port} onChange={(ev) => setProbe(k, { port: digitsOnly(ev.target.value) })} />}</Inv>}
            {(["kind", "path", "port"] as const).map((x) => <InlineError key={x} id={fieldId.probe(k, x)} />)}
          </div>
        ))}
      </fieldset>

      <fieldset>
        <legend>Room storage mounts</legend>
        {f.mounts.length === 0 && <p className="muted small">The agent template mounts room storage at /data.</p>}
        {f.mounts.map((m, i) => (
          <div className="rowline" key={i}>
            <Inv id={fieldId.mount(i, "path")}>{(p) => <input {...p} aria-label={`Mount ${i + 1} path`} placeholder="/reports" value={m.path} onChange={(ev) => setRow("mounts", i, { path: ev.target.value })} />}</Inv>
            <Inv id={fieldId.mount(i, "subpath")}>{(p) => <input {...p} aria-label={`Mount ${i + 1} subpath`} placeholder="subfolder (optional)" value={m.subpath} onChange={(ev) => setRow("mounts", i, { subpath: ev.target.value })} />}</Inv>
            <label className="check"><input type="checkbox" checked={m.readOnly} onChange={(ev) => setRow("mounts", i, { readOnly: ev.target.checked })} /> read-only</label>
            <button type="button" className="ghost" aria-label={`Remove mount ${i + 1}`} onClick={() => removeRow("mounts", i)}><CloseIcon /></button>
            {(["path", "subpath"] as const).map((k) => <InlineError key={k} id={fieldId.mount(i, k)} />)}
          </div>
        ))}
        <button type="button" onClick={() => set("mounts", [...f.mounts, emptyMount()])}>Add mount</button>
      </fieldset>

      <fieldset>
        <legend>Resources</legend>
        <div className="row2">
          <Field label="Memory limit" id="f-mem" hint="e.g. 512Mi; empty for no limit.">
            <Inv id="f-mem" hint>{(p) => <input {...p} value={f.memory} onChange={(e) => set("memory", e.target.value)} />}</Inv>
          </Field>
          <Field label="CPU limit" id="f-cpu" hint="cores, e.g. 1.5 or 500m.">
            <Inv id="f-cpu" hint>{(p) => <input {...p} value={f.cpus} onChange={(e) => set("cpus", e.target.value)} />}</Inv>
          </Field>
        </div>
      </fieldset>
    </div>
    </FieldErrors.Provider>
  );
}
