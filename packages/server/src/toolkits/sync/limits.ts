/**
 * Limits of the `sync` toolkit, each a named default (README "Limits"). They bound what one
 * room or connection can make the server hold in memory.
 */
export interface SyncLimits {
  /** Documents open at once in one room. */
  maxDocumentsPerRoom: number;
  /** Encoded Yjs state of one document (and the file it is loaded from), bytes. */
  maxDocumentBytes: number;
  /** One Yjs update sent by a client, bytes (after base64 decoding). */
  maxUpdateBytes: number;
  /** `sync.open` streams one connection may hold at once. */
  maxOpenStreamsPerConnection: number;
  /** Minimum time between two writes of one document to storage, ms (the crash-loss window). */
  persistDebounceMs: number;
}

export const DEFAULT_SYNC_LIMITS: SyncLimits = {
  maxDocumentsPerRoom: 256,
  maxDocumentBytes: 16 * 1024 * 1024,
  maxUpdateBytes: 1024 * 1024,
  maxOpenStreamsPerConnection: 64,
  persistDebounceMs: 250,
};
