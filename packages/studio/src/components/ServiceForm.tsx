import type { ReactNode } from "react";
import { emptyEnv, emptyMount, emptyPort, type FormModel, type ProbeRow } from "../manifest-form.ts";
import { CloseIcon } from "./icons.tsx";

function Field({ label, id, hint, children }: { label: string; id: string; hint?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint !== undefined && <p className="hint" id={`${id}-hint`}>{hint}</p>}
    </div>
  );
}

/**
 * The Add/Edit service form: name, image, command, environment rows (value / secret /
 * token), ports with type and liveness path, probes, room storage mounts and resources.
 */
export function ServiceForm({ value: f, onChange, secrets }: { value: FormModel; onChange: (f: FormModel) => void; secrets: string[] }) {
  const set = <K extends keyof FormModel>(k: K, v: FormModel[K]) => onChange({ ...f, [k]: v });
  const setRow = <K extends "env" | "ports" | "mounts">(k: K, i: number, patch: Partial<FormModel[K][number]>) =>
    onChange({ ...f, [k]: f[k].map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  const removeRow = (k: "env" | "ports" | "mounts", i: number) => onChange({ ...f, [k]: f[k].filter((_, j) => j !== i) });
  const setProbe = (k: keyof FormModel["probes"], patch: Partial<ProbeRow>) => onChange({ ...f, probes: { ...f.probes, [k]: { ...f.probes[k], ...patch } } });

  return (
    <div className="service-form">
      <fieldset>
        <legend>Service</legend>
        <div className="row2">
          <Field label="Name" id="f-name"><input id="f-name" required value={f.name} onChange={(e) => set("name", e.target.value)} spellCheck={false} /></Field>
          <Field label="Image" id="f-image" hint="Must already exist on the server (roomservice image build).">
            <input id="f-image" required value={f.image} onChange={(e) => set("image", e.target.value)} spellCheck={false} aria-describedby="f-image-hint" />
          </Field>
        </div>
        <Field label="Command" id="f-command" hint="Optional; split like shell words, but no shell runs it.">
          <input id="f-command" className="mono" value={f.command} onChange={(e) => set("command", e.target.value)} spellCheck={false} aria-describedby="f-command-hint" />
        </Field>
        <Field label="Description" id="f-desc"><input id="f-desc" value={f.description} onChange={(e) => set("description", e.target.value)} /></Field>
        <label className="check"><input type="checkbox" checked={f.enabled} onChange={(e) => set("enabled", e.target.checked)} /> Enabled</label>
      </fieldset>

      <fieldset>
        <legend>Environment</legend>
        {f.env.length === 0 && <p className="muted small">No variables.</p>}
        <datalist id="secret-names">{secrets.map((s) => <option key={s} value={s} />)}</datalist>
        {f.env.map((e, i) => (
          <div className="rowline" key={i}>
            <input aria-label={`Variable ${i + 1} name`} placeholder="NAME" className="mono" value={e.name} onChange={(ev) => setRow("env", i, { name: ev.target.value })} />
            <select aria-label={`Variable ${i + 1} kind`} value={e.kind} onChange={(ev) => setRow("env", i, { kind: ev.target.value as typeof e.kind })}>
              <option value="value">value</option>
              <option value="secret">secret</option>
              <option value="token">token</option>
            </select>
            {e.kind === "value" && <input aria-label={`Variable ${i + 1} value`} placeholder="value" value={e.value} onChange={(ev) => setRow("env", i, { value: ev.target.value })} />}
            {e.kind === "secret" && <input aria-label={`Variable ${i + 1} secret`} placeholder="secret name" list="secret-names" value={e.secretId} onChange={(ev) => setRow("env", i, { secretId: ev.target.value })} />}
            {e.kind === "token" && (
              <>
                <input aria-label={`Variable ${i + 1} token identity`} placeholder="identity" value={e.identity} onChange={(ev) => setRow("env", i, { identity: ev.target.value })} />
                <select aria-label={`Variable ${i + 1} token role`} value={e.role} onChange={(ev) => setRow("env", i, { role: ev.target.value })}>
                  <option value="agent">agent</option>
                  <option value="user">user</option>
                  <option value="tool">tool</option>
                </select>
              </>
            )}
            <button type="button" className="ghost" aria-label={`Remove variable ${i + 1}`} onClick={() => removeRow("env", i)}><CloseIcon /></button>
          </div>
        ))}
        <button type="button" onClick={() => set("env", [...f.env, emptyEnv()])}>Add variable</button>
      </fieldset>

      <fieldset>
        <legend>Ports</legend>
        {f.ports.length === 0 && <p className="muted small">No ports.</p>}
        {f.ports.map((p, i) => (
          <div className="rowline" key={i}>
            <input aria-label={`Port ${i + 1} number`} placeholder="8080" inputMode="numeric" value={p.num} onChange={(ev) => setRow("ports", i, { num: ev.target.value })} />
            <select aria-label={`Port ${i + 1} type`} value={p.type} onChange={(ev) => setRow("ports", i, { type: ev.target.value as "http" | "tcp" })}>
              <option value="http">http</option>
              <option value="tcp">tcp</option>
            </select>
            <input aria-label={`Port ${i + 1} liveness path`} placeholder="/healthz (http)" value={p.liveness} disabled={p.type === "tcp"} onChange={(ev) => setRow("ports", i, { liveness: ev.target.value })} />
            <button type="button" className="ghost" aria-label={`Remove port ${i + 1}`} onClick={() => removeRow("ports", i)}><CloseIcon /></button>
          </div>
        ))}
        <button type="button" onClick={() => set("ports", [...f.ports, emptyPort()])}>Add port</button>
      </fieldset>

      <fieldset>
        <legend>Health probes</legend>
        {(["startup", "readiness", "liveness"] as const).map((k) => (
          <div className="rowline" key={k}>
            <span className="probe-name">{k}</span>
            <select aria-label={`${k} probe`} value={f.probes[k].kind} onChange={(ev) => setProbe(k, { kind: ev.target.value as ProbeRow["kind"] })}>
              <option value="none">none</option>
              <option value="httpGet">HTTP GET</option>
              <option value="tcpSocket">TCP connect</option>
            </select>
            {f.probes[k].kind === "httpGet" && <input aria-label={`${k} probe path`} placeholder="/ready" value={f.probes[k].path} onChange={(ev) => setProbe(k, { path: ev.target.value })} />}
            {f.probes[k].kind !== "none" && <input aria-label={`${k} probe port`} placeholder="port (default: first port)" value={f.probes[k].port} onChange={(ev) => setProbe(k, { port: ev.target.value })} />}
          </div>
        ))}
      </fieldset>

      <fieldset>
        <legend>Room storage mounts</legend>
        {f.mounts.length === 0 && <p className="muted small">The agent template mounts room storage at /data.</p>}
        {f.mounts.map((m, i) => (
          <div className="rowline" key={i}>
            <input aria-label={`Mount ${i + 1} path`} placeholder="/reports" value={m.path} onChange={(ev) => setRow("mounts", i, { path: ev.target.value })} />
            <input aria-label={`Mount ${i + 1} subpath`} placeholder="subfolder (optional)" value={m.subpath} onChange={(ev) => setRow("mounts", i, { subpath: ev.target.value })} />
            <label className="check"><input type="checkbox" checked={m.readOnly} onChange={(ev) => setRow("mounts", i, { readOnly: ev.target.checked })} /> read-only</label>
            <button type="button" className="ghost" aria-label={`Remove mount ${i + 1}`} onClick={() => removeRow("mounts", i)}><CloseIcon /></button>
          </div>
        ))}
        <button type="button" onClick={() => set("mounts", [...f.mounts, emptyMount()])}>Add mount</button>
      </fieldset>

      <fieldset>
        <legend>Resources</legend>
        <div className="row2">
          <Field label="Memory limit" id="f-mem" hint="e.g. 512Mi; empty for no limit.">
            <input id="f-mem" value={f.memory} onChange={(e) => set("memory", e.target.value)} aria-describedby="f-mem-hint" />
          </Field>
          <Field label="CPU limit" id="f-cpu" hint="cores, e.g. 1.5 or 500m.">
            <input id="f-cpu" value={f.cpus} onChange={(e) => set("cpus", e.target.value)} aria-describedby="f-cpu-hint" />
          </Field>
        </div>
      </fieldset>
    </div>
  );
}
