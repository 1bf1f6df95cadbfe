/**
 * Progress of work that services report to the room as messages, in the shapes
 * examples/pipeline sends (its README's table): `progress`, `row_error`, `done`, `failed`,
 * each about one `file`. A pure reducer, so the room page's panel is a view of it and
 * node:test can check it.
 */

/** A reported malformed input row. */
export interface RowError {
  line: number | null;
  message: string;
}

/** What is known about one file's run; `state` is the lifecycle the panel draws. */
export interface Task {
  file: string;
  /** Who reports it (the service's participant name). */
  from: string;
  state: "running" | "done" | "failed";
  percent: number;
  rows: number;
  bytes: number;
  totalBytes: number | null;
  malformedRows: number;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
  /** The newest row errors (at most MAX_ROW_ERRORS); `malformedRows` counts them all. */
  rowErrors: RowError[];
  outputs: string[];
  seconds: number | null;
  error: string | null;
  /** When the last message about it arrived (ms), to order the panel newest first. */
  updatedAt: number;
}

/** Row errors kept per file: a file with a million bad rows must not grow the page. */
export const MAX_ROW_ERRORS = 50;
/** Files kept: the oldest finished ones go first. */
export const MAX_TASKS = 20;

/** The message types this reducer understands. */
export const TASK_MESSAGE_TYPES: ReadonlySet<string> = new Set(["progress", "row_error", "done", "failed"]);

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

function fresh(file: string, from: string, at: number): Task {
  return {
    file, from, state: "running", percent: 0, rows: 0, bytes: 0, totalBytes: null, malformedRows: 0,
    bytesPerSecond: null, etaSeconds: null, rowErrors: [], outputs: [], seconds: null, error: null, updatedAt: at,
  };
}

/**
 * Applies one room message to `tasks` (keyed by file). Returns the new map, or `tasks`
 * itself when the message is not a task message or has no `file` (so React skips a render).
 * A `progress` after `done`/`failed` for the same file starts a new run (the file was dropped
 * again).
 */
export function applyTaskMessage(tasks: ReadonlyMap<string, Task>, type: string, message: unknown, from: string, at: number): ReadonlyMap<string, Task> {
  if (!TASK_MESSAGE_TYPES.has(type) || typeof message !== "object" || message === null) return tasks;
  const m = message as Record<string, unknown>;
  const file = str(m.file);
  if (file === null || file === "") return tasks;
  const prev = tasks.get(file);
  let t: Task = prev === undefined || (type === "progress" && prev.state !== "running" && m.state !== "done") ? fresh(file, from, at) : { ...prev, updatedAt: at };
  switch (type) {
    case "progress":
      t = {
        ...t,
        percent: Math.max(0, Math.min(100, num(m.percent) ?? t.percent)),
        rows: num(m.rows) ?? t.rows,
        bytes: num(m.bytes) ?? t.bytes,
        totalBytes: num(m.total_bytes) ?? t.totalBytes,
        malformedRows: num(m.malformed_rows) ?? t.malformedRows,
        bytesPerSecond: num(m.bytes_per_second),
        etaSeconds: num(m.eta_seconds),
      };
      break;
    case "row_error":
      t = { ...t, rowErrors: [...t.rowErrors.slice(-(MAX_ROW_ERRORS - 1)), { line: num(m.line), message: str(m.message) ?? "malformed row" }] };
      t.malformedRows = Math.max(t.malformedRows, t.rowErrors.length);
      break;
    case "done":
      t = {
        ...t, state: "done", percent: 100, etaSeconds: 0,
        rows: num(m.rows) ?? t.rows, bytes: num(m.bytes) ?? t.bytes, totalBytes: num(m.bytes) ?? t.totalBytes,
        malformedRows: num(m.malformed_rows) ?? t.malformedRows, seconds: num(m.seconds),
        outputs: Array.isArray(m.outputs) ? m.outputs.filter((o): o is string => typeof o === "string") : [],
      };
      break;
    case "failed":
      t = { ...t, state: "failed", etaSeconds: null, error: str(m.error) ?? "failed (no reason given)" };
      break;
  }
  const next = new Map(tasks);
  next.set(file, t);
  if (next.size > MAX_TASKS) {
    // Forget the oldest finished run first; running ones only when all are running.
    const victims = [...next.values()].sort((a, b) => Number(a.state === "running") - Number(b.state === "running") || a.updatedAt - b.updatedAt);
    next.delete(victims[0].file);
  }
  return next;
}

/** Seconds as "42 s", "3 min 5 s", "1 h 2 min". */
export function eta(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
