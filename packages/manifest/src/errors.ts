/**
 * Manifest errors people can act on: every error names the field (`ports[0].num`), says
 * what is wrong, what was expected and what was given. zod's issues are translated here in
 * one place so the wording is the same for YAML files, JSON files and API bodies.
 */
import type { z } from "zod";
import type { IssueParams } from "./schema/helpers.ts";

export type PathSegment = string | number;

export interface ManifestError {
  /** Field path such as `container.environment[2].secret.id`; "" is the document itself. */
  path: string;
  /** What is wrong, e.g. `unknown field (did you mean "image"?)`. */
  message: string;
  /** What a valid value looks like, e.g. `a non-empty string`. */
  expected: string;
  /** What was given, e.g. `nothing`, `8078`, `the field "imag"`. */
  received: string;
  /** 1-based position in the source text, when parsed from text and the field exists there. */
  line?: number;
  column?: number;
}

/**
 * An error while it is still attached to its path segments, so that the parser can find
 * its line and column; `atKey` points at the field name rather than its value.
 */
export interface LocatedError extends ManifestError {
  segments: PathSegment[];
  atKey?: boolean;
}

/** Something accepted but not acted on (a MeshAgent-only feature), or run differently. */
export interface ManifestWarning {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** `["container", "environment", 2, "secret"]` → `container.environment[2].secret`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) out += out === "" ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`; // annotation keys such as "meshagent.agent.type"
  }
  return out;
}

/** A short, safe description of a value for "got …". Long strings are cut. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return v.length > 60 ? `${JSON.stringify(v.slice(0, 57))}… (${v.length} characters)` : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  // YAML 1.1 (MeshAgent's dialect) reads an unquoted 2024-01-02 as a date
  if (v instanceof Date) return `a date (${Number.isNaN(v.getTime()) ? "invalid" : v.toISOString().slice(0, 10)}; quote it to get a string)`;
  if (Array.isArray(v)) return v.length === 0 ? "an empty list" : `a list of ${v.length} item${v.length === 1 ? "" : "s"}`;
  if (typeof v === "object") {
    const keys = Object.keys(v);
    if (keys.length === 0) return "an empty object";
    return `an object with ${keys.slice(0, 3).join(", ")}${keys.length > 3 ? ", …" : ""}`;
  }
  return typeof v;
}

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = root;
  for (const s of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[s];
  }
  return cur;
}

// ---------------------------------------------------------------------------------------
// suggestions

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, "");

/** The closest candidate to `word` if it is plausibly a typo (or another spelling) of it. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  // workingDir / working-dir / WORKING_DIR all mean working_dir
  const same = candidates.find((c) => squash(c) === squash(word));
  if (same !== undefined) return same;
  // initialBackoff → initialBackoffSeconds: a unique longer field starting with the word
  const prefixed = candidates.filter((c) => word.length >= 4 && squash(c).startsWith(squash(word)));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = editDistance(squash(word), squash(c));
    if (d < bestScore) {
      best = c;
      bestScore = d;
    }
  }
  const limit = Math.max(1, Math.floor(Math.max(word.length, 3) / 3));
  return bestScore <= limit ? best : undefined;
}

/** Roomservice settings people put at the wrong level; the hint says where they belong. */
const ROOMSERVICE_KEYS = ["probes", "restart", "stop", "resources", "secrets"];

// ---------------------------------------------------------------------------------------
// zod issue → ManifestError

/**
 * Human wording of "expected" for fields where the type alone says too little; keys are
 * paths with list indexes written as [].
 */
const EXPECTED_BY_PATH: Readonly<Record<string, string>> = {
  "": "a service manifest (an object with version, kind, metadata and container)",
  version: '"v1"',
  kind: '"Service"',
  metadata: "an object with at least a name",
  "metadata.name": "a non-empty string",
  container: "a container section with at least an image (Roomservice runs container services)",
  "container.image": "a non-empty string",
  "container.command": "a string or a list of strings",
  "container.environment[].value": 'a string (quote numbers and booleans in YAML, e.g. "8080")',
  "ports[].num": "a port number from 1 to 65535 (not 8078)",
  "roomservice.resources.memory": 'a size such as "256Mi" or "1Gi", or a number of bytes',
  "roomservice.resources.cpus": 'a number of CPUs such as 0.5 or 2, or millicores such as "500m"',
};

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "a list",
  object: "an object",
  record: "an object",
  null: "null",
};

function patternOf(path: readonly PathSegment[]): string {
  return formatPath(path.map((s) => (typeof s === "number" ? -1 : s))).replace(/\[-1\]/g, "[]");
}

/** What fields an object schema at `path` allows (used for "did you mean"). */
export function knownKeysAt(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let cur: unknown = schema;
  const unwrap = (s: unknown): unknown => {
    // optional, nullable, default, prefault, pipe (transform) wrappers around the real schema
    for (let i = 0; i < 20; i++) {
      const def = (s as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
      if (def === undefined) return s;
      if (def.innerType !== undefined) s = def.innerType;
      else if (def.type === "pipe") s = def.in;
      else return s;
    }
    return s;
  };
  for (const seg of [...path, undefined]) {
    cur = unwrap(cur);
    const def = (cur as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (def === undefined) return [];
    if (seg === undefined) return def.type === "object" ? Object.keys(def.shape as object) : [];
    if (def.type === "object") cur = (def.shape as Record<string, unknown>)[seg as string];
    else if (def.type === "array") cur = def.element;
    else return [];
    if (cur === undefined) return [];
  }
  return [];
}

function unknownKeyError(path: readonly PathSegment[], key: string, allowed: readonly string[]): LocatedError {
  const s = suggest(key, allowed);
  let hint = s === undefined ? "" : ` (did you mean "${s}"?)`;
  if (s === undefined && ROOMSERVICE_KEYS.includes(key) && path.length === 0) {
    hint = ` (Roomservice settings go in the roomservice: section: did you mean "roomservice.${key}"?)`;
  } else if (s === undefined && ROOMSERVICE_KEYS.includes(key)) {
    hint = ` (Roomservice settings go in the top-level roomservice: section, as roomservice.${key})`;
  }
  return {
    segments: [...path, key],
    atKey: true,
    path: formatPath([...path, key]),
    message: `unknown field${hint}`,
    expected: allowed.length > 0 ? `one of the fields ${allowed.join(", ")}` : "no such field",
    received: `the field ${JSON.stringify(key)}`,
  };
}

/**
 * For a value matching none of a union's forms: if one form matched the value's type and
 * failed inside (a list with a number in it), its errors are the useful ones.
 */
function unionIssues(issue: z.core.$ZodIssueInvalidUnion): z.core.$ZodIssue[] | undefined {
  for (const branch of issue.errors) {
    const typeMismatchHere = branch.length === 1 && branch[0].code === "invalid_type" && branch[0].path.length === 0;
    if (!typeMismatchHere && branch.length > 0) {
      return branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
    }
  }
  return undefined;
}

function rangeWords(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === "too_small";
  const limit = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
  const incl = issue.inclusive !== false;
  if (issue.origin === "string") {
    return small && Number(limit) === 1 ? "a non-empty string" : `a string of ${small ? "at least" : "at most"} ${limit} characters`;
  }
  if (issue.origin === "array") {
    return small ? `a list of at least ${limit} item${Number(limit) === 1 ? "" : "s"}` : `a list of at most ${limit} items`;
  }
  const op = small ? (incl ? "≥" : ">") : incl ? "≤" : "<";
  return `a number ${op} ${limit}`;
}

/** Translates zod issues for `input` (the raw document) into manifest errors. */
export function issuesToErrors(issues: readonly z.core.$ZodIssue[], input: unknown, schema: z.ZodType, expectedByPath: Readonly<Record<string, string>> = EXPECTED_BY_PATH): LocatedError[] {
  const out: LocatedError[] = [];
  const seen = new Set<string>();
  let path: PathSegment[] = [];
  const push = (e: ManifestError | LocatedError) => {
    const key = `${e.path}\u0000${e.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push("segments" in e ? e : { ...e, segments: path });
    }
  };
  const visit = (issue: z.core.$ZodIssue) => {
    path = issue.path.filter((s): s is PathSegment => typeof s === "string" || typeof s === "number");
    const value = valueAt(input, path);
    const pathText = formatPath(path);
    const expectedOverride = expectedByPath[patternOf(path)];
    const received = describeValue(value);
    switch (issue.code) {
      case "unrecognized_keys": {
        const allowed = knownKeysAt(schema, path);
        for (const key of issue.keys) push(unknownKeyError(path, key, allowed));
        return;
      }
      case "invalid_type": {
        if (value === undefined) {
          push({ path: pathText, message: "required", expected: expectedOverride ?? TYPE_WORDS[issue.expected] ?? issue.expected, received });
        } else if (patternOf(path) === "ports[].num" && value === "*") {
          push({
            path: pathText,
            message: '"*" (any port) is not supported by Roomservice; give the port the service listens on',
            expected: expectedOverride!,
            received,
          });
        } else {
          push({ path: pathText, message: "wrong type", expected: expectedOverride ?? TYPE_WORDS[issue.expected] ?? issue.expected, received });
        }
        return;
      }
      case "invalid_value": {
        const options = issue.values.map((v) => JSON.stringify(v));
        const s = typeof value === "string" ? suggest(value, issue.values.filter((v): v is string => typeof v === "string")) : undefined;
        push({
          path: pathText,
          message: `not an allowed value${s !== undefined ? ` (did you mean "${s}"?)` : ""}`,
          expected: expectedOverride ?? (options.length === 1 ? options[0] : `one of ${options.join(", ")}`),
          received,
        });
        return;
      }
      case "too_small":
      case "too_big": {
        const expected = expectedOverride ?? rangeWords(issue);
        const message = issue.origin === "string" && issue.code === "too_small" ? "must not be empty" : issue.code === "too_small" ? "too small" : "too large";
        push({ path: pathText, message, expected, received });
        return;
      }
      case "invalid_union": {
        const inner = unionIssues(issue);
        if (inner !== undefined) {
          inner.forEach(visit);
          return;
        }
        const forms = issue.errors.map((b) => (b[0]?.code === "invalid_type" ? TYPE_WORDS[b[0].expected] ?? b[0].expected : "another form"));
        push({ path: pathText, message: value === undefined ? "required" : "wrong type", expected: expectedOverride ?? forms.join(" or "), received });
        return;
      }
      case "custom": {
        const params = (issue.params ?? {}) as Partial<IssueParams>;
        push({ path: pathText, message: issue.message, expected: params.expected ?? "a valid value", received: params.received ?? received });
        return;
      }
      case "invalid_format": {
        push({ path: pathText, message: "wrong format", expected: expectedOverride ?? (issue.pattern ? `a string matching ${issue.pattern}` : `a ${issue.format}`), received });
        return;
      }
      case "invalid_key": {
        for (const i of issue.issues) visit({ ...i, path: [...issue.path, ...i.path] });
        return;
      }
      default:
        push({ path: pathText, message: issue.message, expected: expectedOverride ?? "a valid value", received });
    }
  };
  issues.forEach(visit);
  return out;
}

// ---------------------------------------------------------------------------------------
// output

/** One error as a line: `ports[0].num: 8078 is reserved … (expected …, got 8078)`. */
export function formatError(e: ManifestError, filename?: string): string {
  const where = e.line === undefined ? "" : filename === undefined ? `line ${e.line}:${e.column ?? 1}: ` : `${filename}:${e.line}:${e.column ?? 1}: `;
  const file = e.line === undefined && filename !== undefined ? `${filename}: ` : "";
  return `${file}${where}${e.path === "" ? "(document)" : e.path}: ${e.message} (expected ${e.expected}, got ${e.received})`;
}

/** All errors, one per line, for CLI output. */
export function formatErrors(errors: readonly ManifestError[], opts: { filename?: string } = {}): string {
  return errors.map((e) => formatError(e, opts.filename)).join("\n");
}

/** Warnings, one per line. */
export function formatWarnings(warnings: readonly ManifestWarning[], opts: { filename?: string } = {}): string {
  return warnings
    .map((w) => {
      const where =
        w.line === undefined
          ? opts.filename === undefined ? "" : `${opts.filename}: `
          : opts.filename === undefined ? `line ${w.line}:${w.column ?? 1}: ` : `${opts.filename}:${w.line}:${w.column ?? 1}: `;
      return `${where}warning: ${w.path === "" ? "(document)" : w.path}: ${w.message}`;
    })
    .join("\n");
}
