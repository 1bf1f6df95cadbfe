/**
 * Entry points: text (YAML or JSON) or an already-parsed object → a validated manifest with
 * defaults applied, or a list of errors that each say where, what, expected and given.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import { crossFieldErrors } from "./checks.ts";
import { nameErrors, nameWarnings } from "./name-checks.ts";
import { describeValue, issuesToErrors, type LocatedError, type ManifestError, type ManifestWarning, type PathSegment } from "./errors.ts";
import { manifestSchema, type Manifest } from "./schema/manifest.ts";
import { manifestWarnings, type LocatedWarning } from "./warnings.ts";

/** Manifests are configuration, not data: anything larger is a mistake (or an attack). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export type ParseResult =
  | {
      ok: true;
      /** Validated, with defaults applied. */
      manifest: Manifest;
      /**
       * The document exactly as written (no defaults): what to store and show back, so that a
       * manifest round-trips unchanged through the API.
       */
      raw: Record<string, unknown>;
      warnings: ManifestWarning[];
    }
  | { ok: false; errors: ManifestError[]; warnings: ManifestWarning[] };

export interface ParseOptions {
  /** Used to pick the format (".json" → JSON) and in messages. */
  filename?: string;
  /** Overrides detection. Without it, and without a ".json" filename, text is read as YAML (which also reads JSON). */
  format?: "yaml" | "json";
}

/** Positions of fields in the source text, for errors that point at a line. */
type Locator = (segments: readonly PathSegment[], atKey: boolean) => { line: number; column: number } | undefined;

function strip<T extends { segments: PathSegment[]; atKey?: boolean }>(x: T, locate?: Locator): Omit<T, "segments" | "atKey"> & { line?: number; column?: number } {
  const { segments, atKey, ...rest } = x;
  const pos = locate?.(segments, atKey === true);
  return pos === undefined ? rest : { ...rest, line: pos.line, column: pos.column };
}

/**
 * Validates an already-parsed object — a JSON API body, say. Same errors as
 * {@link parseManifest}, without line numbers.
 */
export function validateManifestObject(obj: unknown): ParseResult {
  return validate(obj, undefined);
}

/** Errors in source order when they have positions (zod reports them in schema order). */
function bySource<T extends { line?: number; column?: number }>(xs: T[]): T[] {
  const key = (x: T) => (x.line === undefined ? Infinity : x.line * 1e6 + (x.column ?? 0));
  return xs.map((x, i) => ({ x, i })).sort((a, b) => key(a.x) - key(b.x) || a.i - b.i).map((e) => e.x);
}

function validate(obj: unknown, locate: Locator | undefined): ParseResult {
  const r = manifestSchema.safeParse(obj);
  if (!r.success) {
    return { ok: false, errors: bySource(issuesToErrors(r.error.issues, obj, manifestSchema).map((e) => strip(e, locate))), warnings: [] };
  }
  const warnings = bySource([...manifestWarnings(r.data), ...nameWarnings(r.data)].map((w: LocatedWarning) => strip(w, locate)));
  const cross: LocatedError[] = [...crossFieldErrors(r.data), ...nameErrors(r.data)];
  if (cross.length > 0) return { ok: false, errors: bySource(cross.map((e) => strip(e, locate))), warnings };
  return { ok: true, manifest: r.data, raw: obj as Record<string, unknown>, warnings };
}

/**
 * Parses a manifest from YAML or JSON text and validates it.
 *
 * YAML is read as YAML 1.1, as MeshAgent's own loader (PyYAML) reads it, so `yes`/`no`,
 * merge keys (`<<:`) and the like mean the same thing in both places.
 */
export function parseManifest(text: string, opts: ParseOptions = {}): ParseResult {
  if (Buffer.byteLength(text, "utf8") > MAX_MANIFEST_BYTES) {
    return fail({ message: "the manifest is too large", expected: `at most ${MAX_MANIFEST_BYTES} bytes`, received: `${Buffer.byteLength(text, "utf8")} bytes` });
  }
  const format = opts.format ?? (opts.filename?.toLowerCase().endsWith(".json") ? "json" : "yaml");
  return format === "json" ? parseJson(text) : parseYaml(text);
}

function fail(e: Omit<ManifestError, "path">): ParseResult {
  return { ok: false, errors: [{ path: "", ...e }], warnings: [] };
}

function parseYaml(text: string): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { version: "1.1", lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const errors: ManifestError[] = doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      const lineText = text.split(/\r?\n/)[pos.line - 1] ?? "";
      return {
        path: "",
        message: `YAML syntax error at line ${pos.line}, column ${pos.col}: ${firstLine(e.message)}`,
        expected: "valid YAML",
        received: lineText.trim() === "" ? "a blank line" : JSON.stringify(lineText.trim().slice(0, 80)),
        line: pos.line,
        column: pos.col,
      };
    });
    return { ok: false, errors, warnings: [] };
  }
  const obj: unknown = doc.toJS({ maxAliasCount: 100 });
  if (obj === null || obj === undefined) {
    return fail({ message: "the document is empty", expected: "a service manifest (version, kind, metadata, container)", received: "nothing" });
  }
  const r = validate(obj, yamlLocator(doc, lineCounter));
  // e.g. an unknown !tag: the value is still read (as a plain string), but say so
  const yamlWarnings: ManifestWarning[] = doc.warnings.map((w) => {
    const pos = lineCounter.linePos(w.pos[0]);
    return { path: "", message: `YAML: ${firstLine(w.message)}`, line: pos.line, column: pos.col };
  });
  return yamlWarnings.length === 0 ? r : { ...r, warnings: [...yamlWarnings, ...r.warnings] };
}

function parseJson(text: string): ParseResult {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    const msg = (err as Error).message;
    const m = /\(line (\d+) column (\d+)\)/.exec(msg);
    const posMatch = /position (\d+)/.exec(msg);
    let line: number | undefined;
    let column: number | undefined;
    if (m !== null) {
      line = Number(m[1]);
      column = Number(m[2]);
    } else if (posMatch !== null) {
      const before = text.slice(0, Number(posMatch[1]));
      line = before.split("\n").length;
      column = Number(posMatch[1]) - before.lastIndexOf("\n");
    }
    const where = line === undefined ? "" : ` at line ${line}, column ${column}`;
    const lineText = line === undefined ? text.trim() : (text.split(/\r?\n/)[line - 1] ?? "").trim();
    return {
      ok: false,
      errors: [
        {
          path: "",
          message: `JSON syntax error${where}: ${msg.replace(/\s*\(line \d+ column \d+\)/, "")}`,
          expected: "valid JSON",
          received: lineText === "" ? "a blank line" : describeValue(lineText.slice(0, 80)),
          ...(line === undefined ? {} : { line, column }),
        },
      ],
      warnings: [],
    };
  }
  // JSON is YAML, so the YAML parser can still tell where each field is.
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  return validate(obj, doc.errors.length === 0 ? yamlLocator(doc, lineCounter) : undefined);
}

function firstLine(s: string): string {
  return s.split("\n")[0].replace(/\s+at line \d+, column \d+:?$/, "");
}

/**
 * Finds the node a path names. For a field that does not exist (a missing required field)
 * it points at the closest enclosing one, which is where the field has to be added.
 */
function yamlLocator(doc: Document, lc: LineCounter): Locator {
  return (segments, atKey) => {
    let node: unknown = doc.contents;
    let offset: number | undefined = (node as { range?: [number, number, number] } | null)?.range?.[0];
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const last = i === segments.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (pair === undefined) break;
        const keyRange = (pair.key as { range?: [number, number, number] }).range;
        const value = pair.value as { range?: [number, number, number] } | null;
        offset = last && atKey ? keyRange?.[0] : (value?.range?.[0] ?? keyRange?.[0]);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === "number") {
        const item = node.items[seg] as { range?: [number, number, number] } | undefined;
        if (item === undefined) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else {
        break;
      }
    }
    if (offset === undefined) return undefined;
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  };
}
