/**
 * Log plumbing shared by the runtimes: Docker's stream demultiplexer, a line splitter that
 * copes with lines split across chunks, and secret masking.
 */

const MAX_LINE = 64 * 1024; // a process that never prints a newline must not grow memory unbounded

/** Emits complete lines; `flush()` emits the unterminated remainder (at end of stream). */
export class LineSplitter {
  private buf = "";
  private readonly decoder = new TextDecoder("utf-8");
  private readonly emit: (line: string) => void;

  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }

  push(chunk: Uint8Array): void {
    // stream: true keeps a multi-byte character split across chunks intact.
    this.buf += this.decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      this.emit(stripCr(this.buf.slice(0, i)));
      this.buf = this.buf.slice(i + 1);
    }
    while (this.buf.length > MAX_LINE) {
      this.emit(this.buf.slice(0, MAX_LINE));
      this.buf = this.buf.slice(MAX_LINE);
    }
  }

  flush(): void {
    this.buf += this.decoder.decode();
    if (this.buf !== "") this.emit(stripCr(this.buf));
    this.buf = "";
  }
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
export function makeMasker(values: Iterable<string>): (line: string) => string {
  const vs = [...new Set(values)].filter((v) => v.length > 0).sort((a, b) => b.length - a.length);
  if (vs.length === 0) return (line) => line;
  return (line) => {
    for (const v of vs) if (line.includes(v)) line = line.split(v).join("****");
    return line;
  };
}

/** Secret values of a spec worth masking: declared ones plus secret file contents (4+ chars, so "a" never masks every "a"). */
export function secretsToMask(spec: { secretValues?: string[]; secretFiles: Record<string, string> }): string[] {
  const out = [...(spec.secretValues ?? [])];
  for (const v of Object.values(spec.secretFiles)) {
    out.push(v);
    // A file written with a trailing newline is often printed without it.
    const trimmed = v.trim();
    if (trimmed !== v) out.push(trimmed);
  }
  return out.filter((v) => v.length >= 4);
}
