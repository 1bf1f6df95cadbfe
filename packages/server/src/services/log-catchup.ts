import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import type { ActivityLogLine } from "@roomservice/protocol";

/**
 * Catching a stream client up from the session's kept log files: a client that fell behind
 * (dropped at its 1 MiB bound) and resumes with `Last-Event-ID` after messages the room's
 * resume buffer no longer holds gets the missing log lines from disk, where every line of the
 * session is kept, written at the pace its socket takes them — so the per-client buffer stays
 * bounded and no line is lost. (The same pattern as a Kafka consumer or an EventStoreDB
 * catch-up subscription: read history until close to the live tail, then switch to live.)
 */

/** Bounds of one catch-up. */
export interface CatchUpLimits {
  /** Lines read from the files per round (memory held at once). */
  batchLines: number;
  /** Lines one catch-up sends at most; past it the client resumes live and is told of the gap by `line_no`. */
  maxLines: number;
  /** A client that reads nothing for this long while caught up is dropped. */
  stallMs: number;
}

export const DEFAULT_CATCH_UP_LIMITS: CatchUpLimits = { batchLines: 2000, maxLines: 200_000, stallMs: 30_000 };

/** The `seq` of a kept line: JSON.stringify puts it first (`{"seq":123,...`); -1 when unreadable. */
export function seqOf(text: string): number {
  if (!text.startsWith('{"seq":')) return -1;
  const comma = text.indexOf(",", 7);
  if (comma < 0) return -1;
  const n = Number(text.slice(7, comma));
  return Number.isSafeInteger(n) ? n : -1;
}

/**
 * A kept line is at most MAX_LINE_BYTES (64 KiB) of text, JSON-escaped (≤ 6 bytes per byte)
 * plus its fields; more without a newline is not a line this server wrote, and reading stops
 * there rather than buffering it.
 */
const MAX_KEPT_LINE_BYTES = 1024 * 1024;

/**
 * The complete lines of `file` from byte `start`: each with the byte offset just past its
 * newline. A last line without its newline is still being written (or was cut by a crash)
 * and is not returned, so a reader never moves past half a line.
 */
async function* completeLines(file: string, start: number): AsyncGenerator<{ text: string; end: number }> {
  const input = createReadStream(file, { start, highWaterMark: 64 * 1024 });
  let pending: Buffer = Buffer.alloc(0);
  let offset = start;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let nl: number;
      while ((nl = pending.indexOf(10)) >= 0) {
        const text = pending.subarray(0, nl).toString("utf8");
        pending = pending.subarray(nl + 1);
        offset += nl + 1;
        yield { text, end: offset };
      }
      if (pending.length > MAX_KEPT_LINE_BYTES) return;
    }
  } catch {
    // Removed meanwhile: it has nothing (more) to give.
  } finally {
    input.destroy();
  }
}

/** The log files (`<service id>.log`) in a session's folder; [] when it has none yet. */
export async function sessionLogFiles(dir: string, serviceId?: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith(".log") && (serviceId === undefined || n === `${serviceId}.log`)).map((n) => `${dir}/${n}`);
}

/**
 * Reads a session's kept log files forward, across calls: each file is read from where the
 * previous call's lines ended, so a catch-up of N lines reads each file once (not once per
 * batch).
 */
export class KeptLogReader {
  /** Byte offset per file of the first line not yet returned. */
  private readonly pos = new Map<string, number>();

  /**
   * The first `max` lines (by seq) with seq > `after` across `files` (each file is in seq
   * order: one writer appends), parsing only the lines returned.
   */
  async next(files: string[], after: number, max: number): Promise<ActivityLogLine[]> {
    const found: { line: ActivityLogLine; file: string; end: number }[] = [];
    const skippedTo = new Map<string, number>();
    for (const file of files) {
      let taken = 0;
      for await (const { text, end } of completeLines(file, this.pos.get(file) ?? 0)) {
        if (seqOf(text) <= after) {
          skippedTo.set(file, end);
          continue;
        }
        let line: ActivityLogLine;
        try {
          line = JSON.parse(text) as ActivityLogLine;
        } catch {
          // A complete line that is not JSON (a crash cut one line and the next was appended
          // to it): nothing in it can be replayed. The position moves past it only when no
          // line before it in this file is pending (it must never pass lines not yet returned;
          // otherwise a returned line after it moves it).
          if (taken === 0) skippedTo.set(file, end);
          continue;
        }
        found.push({ line, file, end });
        // Only the first `max` of this file can be among the first `max` of all files.
        if (++taken >= max) break;
      }
    }
    found.sort((a, b) => a.line.seq - b.line.seq);
    const kept = found.slice(0, max);
    for (const [file, end] of skippedTo) this.pos.set(file, Math.max(this.pos.get(file) ?? 0, end));
    for (const f of kept) this.pos.set(f.file, Math.max(this.pos.get(f.file) ?? 0, f.end));
    return kept.map((f) => f.line);
  }
}
