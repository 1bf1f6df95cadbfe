/**
 * Log plumbing shared by the runtimes: Docker's stream demultiplexer, a line splitter that
 * copes with lines split across chunks, and secret masking.
 *
 * Masking happens on the decoded text *before* it is cut into lines, and text that could be
 * the beginning of a secret is held back until the rest arrives, so a secret is masked whole
 * even when it contains line breaks, arrives in several chunks, or straddles the 64 KiB cut
 * of an over-long line. What is masked is the exact text of each value, and each line of a
 * multi-line value on its own; encoded forms (base64, JSON- or URL-escaped, hex) are NOT.
 */

/** Longest line emitted, in UTF-8 bytes: a process that never prints a newline must not grow memory unbounded. */
export const MAX_LINE_BYTES = 64 * 1024;

export type Masker = (text: string) => string;

/** What a LineSplitter masks: the replacement function and the raw values (to hold back prefixes). */
export interface MaskSpec {
  mask: Masker;
  values: readonly string[];
}

/**
 * Emits complete lines, masked; `flush()` emits the unterminated remainder (at end of stream).
 * Lines longer than `maxLineBytes` are cut on a code-point boundary (never inside a UTF-8
 * sequence or a surrogate pair), and never inside a secret.
 */
export class LineSplitter {
  private buf = "";
  private readonly decoder = new TextDecoder("utf-8");
  private readonly emit: (line: string) => void;
  private readonly masking: MaskSpec | null;
  private readonly maxLineBytes: number;

  constructor(emit: (line: string) => void, masking: MaskSpec | null = null, maxLineBytes = MAX_LINE_BYTES) {
    this.emit = emit;
    this.masking = masking !== null && masking.values.length > 0 ? masking : null;
    this.maxLineBytes = maxLineBytes;
  }

  push(chunk: Uint8Array): void {
    // stream: true keeps a multi-byte character split across chunks intact.
    this.buf += this.decoder.decode(chunk, { stream: true });
    this.drain(false);
  }

  flush(): void {
    this.buf += this.decoder.decode();
    this.drain(true);
    if (this.buf !== "") this.emit(stripCr(this.buf));
    this.buf = "";
  }

  private drain(final: boolean): void {
    // Text at the end that may be the start of a secret waits (unmasked: a line of a
    // multi-line secret must not be masked before the whole secret had its chance).
    const hold = final || this.masking === null ? 0 : heldBackLength(this.buf, this.masking.values);
    if (this.masking !== null) this.buf = this.masking.mask(this.buf.slice(0, this.buf.length - hold)) + this.buf.slice(this.buf.length - hold);
    const limit = this.buf.length - hold;
    let start = 0;
    for (;;) {
      const nl = this.buf.indexOf("\n", start);
      const complete = nl >= 0 && nl < limit;
      // An over-long line is emitted in pieces; an unterminated one only up to the held-back part.
      const cut = cutIndex(this.buf, start, complete ? nl : limit, this.maxLineBytes);
      if (cut !== null) {
        this.emit(this.buf.slice(start, cut));
        start = cut;
      } else if (complete) {
        this.emit(stripCr(this.buf.slice(start, nl)));
        start = nl + 1;
      } else break;
    }
    this.buf = this.buf.slice(start);
  }
}

/**
 * Where to cut the pending text [start, limit) so the piece is at most `maxBytes` of UTF-8;
 * null while it still fits. Never splits a surrogate pair.
 */
function cutIndex(s: string, start: number, limit: number, maxBytes: number): number | null {
  // Each UTF-16 unit is at most 3 UTF-8 bytes (a pair: 4 bytes for 2 units).
  if ((limit - start) * 3 <= maxBytes) return null;
  let bytes = 0;
  let i = start;
  while (i < limit) {
    const c = s.charCodeAt(i);
    let units = 1;
    let b: number;
    if (c < 0x80) b = 1;
    else if (c < 0x800) b = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
      b = 4;
      units = 2;
    } else b = 3;
    if (bytes + b > maxBytes) return i > start ? i : null;
    // A high surrogate whose partner lies beyond the limit stays with its partner.
    if (units === 2 && i + 2 > limit) return null;
    bytes += b;
    i += units;
  }
  return null;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** Length of the longest suffix of `s` that is a proper prefix of one of `values`. */
export function heldBackLength(s: string, values: readonly string[]): number {
  let best = 0;
  for (const v of values) {
    const from = Math.max(0, s.length - (v.length - 1));
    for (let i = from; i < s.length - best; i++) {
      if (s.charCodeAt(i) === v.charCodeAt(0) && v.startsWith(s.slice(i))) {
        best = s.length - i;
        break;
      }
    }
  }
  return best;
}

function stripCr(s: string): string {
  return s.endsWith("\r") ? s.slice(0, -1) : s;
}

/**
 * Docker's multiplexed stream (non-TTY containers): frames of an 8-byte header
 * [stream(1) 0 0 0 size(4, big-endian)] then `size` bytes. Headers and payloads can straddle
 * chunk boundaries, so keep a pending buffer.
 */
export class DockerDemuxer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly onFrame: (stream: "stdout" | "stderr", payload: Buffer) => void;

  constructor(onFrame: (stream: "stdout" | "stderr", payload: Buffer) => void) {
    this.onFrame = onFrame;
  }

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const kind = this.pending[0];
      const payload = this.pending.subarray(8, 8 + size);
      this.pending = this.pending.subarray(8 + size);
      // 0 = stdin (never sent here), 1 = stdout, 2 = stderr (3 = system error, surfaced as stderr)
      this.onFrame(kind === 1 ? "stdout" : "stderr", payload);
    }
  }
}

/** Replaces every occurrence of each secret value with "****" (longest first, so overlaps mask fully). */
export function makeMasker(values: Iterable<string>): Masker {
  const vs = [...new Set(values)].filter((v) => v.length > 0).sort((a, b) => b.length - a.length);
  if (vs.length === 0) return (line) => line;
  return (line) => {
    for (const v of vs) if (line.includes(v)) line = line.split(v).join("****");
    return line;
  };
}

/** A masker plus the values it masks, for a LineSplitter. */
export function maskSpec(values: readonly string[]): MaskSpec {
  return { mask: makeMasker(values), values };
}

const MIN_SECRET = 4; // so "a" never masks every "a"

/**
 * Secret values of a spec worth masking: declared ones plus secret file contents, each also
 * without surrounding whitespace and, when it spans several lines, line by line (a program
 * may print a PEM key one line at a time). Values shorter than 4 characters are not masked.
 */
export function secretsToMask(spec: { secretValues?: string[]; secretFiles: Record<string, string> }): string[] {
  const out = new Set<string>();
  for (const v of [...(spec.secretValues ?? []), ...Object.values(spec.secretFiles)]) {
    out.add(v);
    // A file written with a trailing newline is often printed without it.
    out.add(v.trim());
    if (/[\r\n]/.test(v)) for (const line of v.split(/\r?\n/)) out.add(line.trim());
  }
  return [...out].filter((v) => v.length >= MIN_SECRET);
}

/** The longest reason (in characters) an Exited event quotes from a run's output. */
export const EXIT_REASON_MAX_CHARS = 200;

/**
 * Keeps the last non-empty stderr line of one run (already masked by its LineSplitter), so
 * that an Exited/BackOff event can say why a run failed — `envexec: cannot run /bin/sh: No
 * such file or directory` — instead of only its exit code. Bounded to EXIT_REASON_MAX_CHARS.
 */
export class LastErrorLine {
  private line: string | null = null;

  /** Records a log line of the run; stdout lines are ignored. */
  see(stream: "stdout" | "stderr", line: string): void {
    if (stream !== "stderr") return;
    const t = line.trim();
    if (t !== "") this.line = t.length > EXIT_REASON_MAX_CHARS ? `${t.slice(0, EXIT_REASON_MAX_CHARS - 1)}…` : t;
  }

  /** `": <line>"` to append to an exit message, or "" when the run wrote nothing to stderr. */
  note(): string {
    return this.line === null ? "" : `: ${this.line}`;
  }

  reset(): void {
    this.line = null;
  }
}
