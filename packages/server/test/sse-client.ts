/** A small Server-Sent Events reader for tests: parses `id:`/`event:`/`data:` blocks and comments. */
export interface SseEvent {
  id: number | null;
  event: string;
  data: any;
}

export interface SseReader {
  status: number;
  events: SseEvent[];
  comments: string[];
  /** Resolves with the first event (already received or future) that matches. */
  waitFor(pred: (e: SseEvent) => boolean, ms?: number, what?: string): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: ac.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const ended = (async () => {
    if (res.body === null) return;
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let id: number | null = null;
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) comments.push(line.slice(1).trim());
            else if (line.startsWith("id: ")) id = Number(line.slice(4));
            else if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ id, event, data: JSON.parse(data.join("\n")) });
          notify();
        }
      }
    } catch {
      // aborted
    }
    notify();
  })();
  return {
    status: res.status,
    events,
    comments,
    ended,
    waitFor(pred, ms = 30_000, what = "event") {
      return new Promise((resolve, reject) => {
        const check = () => {
          const e = events.find(pred);
          if (e !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(e);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${events.map((e) => e.event + (e.data?.reason ? `:${e.data.reason}` : "")).join(", ")}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    close: () => ac.abort(),
  };
}
