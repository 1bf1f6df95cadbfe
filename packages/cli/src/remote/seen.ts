/**
 * Drops what a reconnect replays twice. Seqs increase within a session, but a new session may
 * start lower (its room moved to a node whose clock or counter is behind, or the server
 * restarted with its clock stepped back), so the last seq is kept per session: a first line of
 * a new session is always new.
 */
export class SeenPerSession {
  private session: string | null = null;
  private last = -1;
  /** True when `seq` is past the last one seen in its session; a session other than the last starts afresh. */
  isNew(x: { session_id: string; seq: number }): boolean {
    if (x.session_id !== this.session) {
      this.session = x.session_id;
      this.last = -1;
    }
    if (x.seq <= this.last) return false;
    this.last = x.seq;
    return true;
  }
}

