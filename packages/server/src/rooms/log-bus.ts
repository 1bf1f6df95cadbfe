/** A room's developer log stream: `developer.log` calls and, later, service output. */
export interface LogEntry {
  type: string;
  data: Record<string, unknown>;
  /** Who wrote it (developer.log); never mixed into `data`. */
  participantId?: string;
}

type Listener = (e: LogEntry) => void;

export class LogBus {
  private readonly listeners = new Set<Listener>();

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  publish(e: LogEntry): void {
    for (const fn of this.listeners) fn(e);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}
