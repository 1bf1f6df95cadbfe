import { createReadStream } from "node:fs";
import { readdir } from "node:fs/promises";
import { createInterface } from "node:readline";
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
function seqOf(text: string): number {
  if (!text.startsWith('{"seq":')) return -1;
  const n = Number(text.slice(7, text.indexOf(",", 7)));
  return Number.isSafeInteger(n) ? n : -1;
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
      let offset = this.pos.get(file) ?? 0;
      const input = createReadStream(file, { encoding: "utf8", start: offset });
      input.on("error", () => undefined); // removed meanwhile: it has nothing to give
      const lines = createInterface({ input, crlfDelay: Infinity });
      let taken = 0;
      try {
        for await (const text of lines) {
          const end = offset + Buffer.byteLength(text) + 1;
          if (seqOf(text) <= after) {
            offset = end;
            skippedTo.set(file, end);
            continue;
          }
          let line: ActivityLogLine;
          try {
            line = JSON.parse(text) as ActivityLogLine;
          } catch {
            // A line cut by a crash, or one still being written: read it again next time.
            break;
          }
          found.push({ line, file, end });
          offset = end;
          // Only the first `max` of this file can be among the first `max` of all files.
          if (++taken >= max) break;
        }
      } finally {
        lines.close();
        input.destroy();
      }
    }
    found.sort((a, b) => a.line.seq - b.line.seq);
    const kept = found.slice(0, max);
    for (const [file, end] of skippedTo) this.pos.set(file, Math.max(this.pos.get(file) ?? 0, end));
    for (const f of kept) this.pos.set(f.file, Math.max(this.pos.get(f.file) ?? 0, f.end));
    return kept.map((f) => f.line);
  }
}
