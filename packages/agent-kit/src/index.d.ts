/** Types of @roomservice/agent-kit (src/index.js). `room` is an @meshagent/meshagent RoomClient. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type RoomClient = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type MeshDocument = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Participant = any;

export declare const THREAD_SCHEMA_PATH: ".schemas/thread.json";

export declare function statusAttributeNames(path: string): { status: string; text: string; mode: string; startedAt: string };

/** Publishes this participant's busy status for a thread; `text: null` clears it. */
export declare function setBusy(room: RoomClient, path: string, text: string | null, options?: { now?: () => Date }): void;

/** The attribute a chat agent publishes on itself (MeshAgent's ChatBot: `empty_state_title`). */
export declare const CHAT_ATTRIBUTE: "empty_state_title";

/** Says this agent answers in chat threads: sets `empty_state_title` (default "How can I help you?"). */
export declare function advertiseChat(room: RoomClient, title?: string): void;

export declare class ThreadMessage {
  readonly element: unknown;
  readonly id: string;
  readonly text: string;
  readonly authorName: string;
  setText(text: string): void;
  appendText(delta: string): void;
}

export interface AppendOptions {
  text?: string;
  authorName?: string;
  authorRef?: string | null;
  /** Room storage paths, each becomes a `file {path}` child. */
  attachments?: string[];
  id?: string;
  createdAt?: Date;
}

export declare class Thread {
  readonly room: RoomClient;
  readonly path: string;
  readonly doc: MeshDocument;
  ensureStructure(): void;
  memberNames(): string[];
  ensureMember(name: string, type?: "user" | "agent"): void;
  messages(): ThreadMessage[];
  appendMessage(options?: AppendOptions): ThreadMessage;
  /** Streams `chunks` into a new message; `signal` (a `cancel` notice) stops it, keeping the text so far. */
  streamMessage(chunks: AsyncIterable<string>, options?: Omit<AppendOptions, "text"> & { signal?: AbortSignal }): Promise<ThreadMessage>;
  /** The first message matching `pred`, waiting for it to arrive (null after `timeoutMs`). */
  waitForMessage(pred: (m: ThreadMessage) => boolean, timeoutMs?: number): Promise<ThreadMessage | null>;
  onlineMembers(): Participant[];
  /** Names of members listed with `type: "agent"`. */
  agentMemberNames(): string[];
  /** `agents: false` skips members listed as agents (an agent's reply notice, so agents never answer each other). */
  notifyMembers(type: string, message?: Record<string, unknown>, options?: { agents?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export declare function openThread(room: RoomClient, path: string, options?: { memberName?: string | null; memberType?: "user" | "agent" }): Promise<Thread>;

export interface ThreadNotice {
  type: "chat" | "opened" | "typing" | "cancel" | "clear";
  path: string | null;
  text: string;
  attachments: { path: string }[];
  from: Participant | null;
  fromParticipantId: string;
}

export declare function onThreadMessage(room: RoomClient, handler: (notice: ThreadNotice) => void | Promise<void>): () => void;

export declare class ThreadCache {
  constructor(room: RoomClient, options?: { memberName?: string | null; memberType?: "user" | "agent" });
  get(path: string): Promise<Thread>;
  closeAll(): Promise<void>;
}

/** The first argument of the MeshAgent SDK's per-document-change console.log line. */
export declare const SDK_DOCUMENT_CHANGE_LOG: "Applying changes to doc:";

/**
 * Drops the SDK's "Applying changes to doc: {…}" console.log lines (one per document change)
 * from this process's output; every other console.log passes through. Idempotent. Returns a
 * function that restores the original console.log.
 */
export declare function quietDocumentChangeLog(target?: { log: (...args: unknown[]) => void }): () => void;
