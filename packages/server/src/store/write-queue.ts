/**
 * Writes their callers fire and forget (session start/end on the connection path), applied
 * one after another in call order: a pool of PostgreSQL connections would otherwise let a
 * session's end overtake its start. A failed write is reported to `onError` and the queue
 * goes on. Readers that must see earlier writes await `settled()` first.
 */
export class WriteQueue {
  private tail: Promise<void> = Promise.resolve();
  private readonly onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void) {
    this.onError = onError;
  }

  push(op: () => Promise<unknown>): void {
    this.tail = this.tail.then(op).then(() => undefined, this.onError);
  }

  /** Resolves when every write pushed so far has been applied (or failed and reported). */
  settled(): Promise<void> {
    return this.tail;
  }
}
