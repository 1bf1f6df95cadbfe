// @roomservice/agent-kit: the thread protocol of docs/chat.md, for agents built on the
// @meshagent/meshagent SDK (0.35.8 or 0.39.9). Plain JavaScript on purpose: it runs from
// node_modules inside service containers, where Node does not strip TypeScript types.
// Types: ./index.d.ts.

/** Where MeshAgent's chat clients look for the thread schema before opening a thread. */
export const THREAD_SCHEMA_PATH = ".schemas/thread.json";

/** The first argument of the SDK's per-change log line (0.35.8 and 0.39.9: `receiveChanges` in dist/node/document.js and dist/esm/document.js). */
export const SDK_DOCUMENT_CHANGE_LOG = "Applying changes to doc:";

const QUIET = Symbol.for("roomservice.agent-kit.quietDocumentChangeLog");

/**
 * Drops the line the MeshAgent SDK prints with `console.log` for every change of every open
 * document ("Applying changes to doc: {…}", the change as JSON — thread messages' text
 * included) from this process's output, so it does not fill a room's service logs. The SDK
 * has no logger or setting for that line, so the filter sits on `console.log` (of `target`,
 * default the global console) and passes every other call through unchanged. Call it once at
 * start; a second call does nothing. Returns a function that puts the original back.
 */
export function quietDocumentChangeLog(target = console) {
  const current = target.log;
  if (current[QUIET] === true) return () => {};
  const quiet = function (...args) {
    if (args[0] === SDK_DOCUMENT_CHANGE_LOG) return;
    return current.apply(this, args);
  };
  quiet[QUIET] = true;
  target.log = quiet;
  return () => {
    if (target.log === quiet) target.log = current;
  };
}

/** Participant attribute names that carry an agent's status for one thread (docs/chat.md). */
export function statusAttributeNames(path) {
  return {
    status: `thread.status.${path}`,
    text: `thread.status.text.${path}`,
    mode: `thread.status.mode.${path}`,
    startedAt: `thread.status.started_at.${path}`,
  };
}

/**
 * Publishes (or, with `text: null`, clears) this participant's busy status for a thread,
 * the way MeshAgent's ChatBot does: clients show `thread.status.text.<path>` while it is set.
 */
export function setBusy(room, path, text, { now = () => new Date() } = {}) {
  const n = statusAttributeNames(path);
  const p = room.localParticipant;
  p.setAttribute(n.status, text);
  p.setAttribute(n.text, text);
  p.setAttribute(n.mode, text === null ? null : "busy");
  p.setAttribute(n.startedAt, text === null ? null : now().toISOString());
}

/**
 * The participant attribute a chat agent publishes on itself: MeshAgent's ChatBot sets
 * `empty_state_title` (the line its chat UIs show above an empty thread) when it starts, and
 * only chat agents do. Clients offer a thread only with agents that have it (Studio does).
 */
export const CHAT_ATTRIBUTE = "empty_state_title";

/**
 * Says this agent answers in chat threads, as MeshAgent's ChatBot does at start: sets
 * `empty_state_title` to `title` (shown above an empty thread). Call once after `room.start()`.
 */
export function advertiseChat(room, title = "How can I help you?") {
  room.localParticipant.setAttribute(CHAT_ATTRIBUTE, title);
}

function participantName(room) {
  const name = room.localParticipant?.getAttribute("name");
  return typeof name === "string" && name !== "" ? name : "agent";
}

function childByTag(el, tag) {
  return el.getChildren().find((c) => c.tagName === tag) ?? null;
}

/** One `message` element of a thread. `text` is what the element holds now. */
export class ThreadMessage {
  constructor(element) {
    this.element = element;
  }
  get id() {
    return this.element.getAttribute("id");
  }
  get text() {
    return this.element.getAttribute("text") ?? "";
  }
  get authorName() {
    return this.element.getAttribute("author_name") ?? "";
  }
  /** Replaces the message's text (one attribute update: every open client sees it at once). */
  setText(text) {
    this.element.setAttribute("text", text);
  }
  appendText(delta) {
    this.setText(this.text + delta);
  }
}

/** A thread document opened through `room.sync` (see docs/chat.md for its elements). */
export class Thread {
  constructor(room, path, doc) {
    this.room = room;
    this.path = path;
    this.doc = doc;
  }

  /** The `members` and `messages` elements, created when a client made the thread without them. */
  ensureStructure() {
    const root = this.doc.root;
    if (childByTag(root, "members") === null) root.createChildElement("members", {});
    if (childByTag(root, "messages") === null) root.createChildElement("messages", {});
  }

  get membersElement() {
    return childByTag(this.doc.root, "members");
  }

  get messagesElement() {
    return childByTag(this.doc.root, "messages");
  }

  /** Names listed under `members`. */
  memberNames() {
    return (this.membersElement?.getChildren() ?? []).map((m) => m.getAttribute?.("name")).filter((n) => typeof n === "string");
  }

  ensureMember(name, type = "agent") {
    if (!this.memberNames().includes(name)) this.membersElement.createChildElement("member", { name, type });
  }

  /** Messages, oldest first. */
  messages() {
    return (this.messagesElement?.getChildren() ?? []).filter((m) => m.tagName === "message").map((m) => new ThreadMessage(m));
  }

  /** Appends a `message` element (with `file` children for attachments) and returns it. */
  appendMessage({ text = "", authorName = participantName(this.room), authorRef = null, attachments = [], id = crypto.randomUUID(), createdAt = new Date() } = {}) {
    const el = this.messagesElement.createChildElement("message", {
      id, text, created_at: createdAt.toISOString(), author_name: authorName, author_ref: authorRef,
    });
    for (const path of attachments) el.createChildElement("file", { path });
    return new ThreadMessage(el);
  }

  /**
   * Appends a message and grows its text with each chunk of `chunks` (an async iterable of
   * strings, e.g. model output tokens). Returns the message once the stream is done, or as
   * soon as `options.signal` aborts (a `cancel` notice): the message keeps the text written
   * so far, and `chunks` is closed without waiting for its next chunk.
   */
  async streamMessage(chunks, { signal, ...options } = {}) {
    const message = this.appendMessage({ ...options, text: "" });
    const it = chunks[Symbol.asyncIterator]();
    const ABORTED = Symbol("aborted");
    let onAbort = () => {};
    const aborted = new Promise((resolve) => (onAbort = () => resolve(ABORTED)));
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let text = "";
    try {
      for (;;) {
        const next = await Promise.race([it.next(), aborted]);
        if (next === ABORTED) {
          // Not awaited: an async generator runs return() only after its pending next().
          void Promise.resolve(it.return?.()).catch(() => undefined);
          break;
        }
        if (next.done) break;
        text += next.value;
        message.setText(text);
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    return message;
  }

  /**
   * Resolves with the first message matching `pred`, waiting up to `timeoutMs` for it to
   * arrive. A `chat` notice travels by messaging and the message itself by the document's
   * sync stream, so the notice can arrive first; answering before the message is in the
   * document would put the reply *above* it. Resolves null on timeout.
   */
  waitForMessage(pred, timeoutMs = 5000) {
    const find = () => this.messages().find(pred) ?? null;
    const now = find();
    if (now !== null) return Promise.resolve(now);
    return new Promise((resolve) => {
      const sub = this.doc.listen(() => {
        const m = find();
        if (m !== null) done(m);
      });
      const timer = setTimeout(() => done(null), timeoutMs);
      const done = (m) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(m);
      };
    });
  }

  /** Participants online now whose names are thread members (excluding this one). */
  onlineMembers() {
    const names = new Set(this.memberNames());
    return this.room.messaging.remoteParticipants.filter((p) => names.has(p.getAttribute("name")));
  }

  /** Names of members listed with `type: "agent"` (agent-kit lists every agent so). */
  agentMemberNames() {
    return (this.membersElement?.getChildren() ?? []).filter((m) => m.getAttribute?.("type") === "agent").map((m) => m.getAttribute("name"));
  }

  /**
   * Sends a messaging notice (`chat`, `typing`, ...) about this thread to its online members.
   * `agents: false` leaves out members listed as agents: an agent announcing its reply that
   * way never makes another agent in the same thread answer it (two agents would otherwise
   * answer each other forever).
   */
  async notifyMembers(type, message = {}, { agents = true } = {}) {
    const skip = agents ? new Set() : new Set(this.agentMemberNames());
    for (const to of this.onlineMembers().filter((p) => !skip.has(p.getAttribute("name")))) {
      await this.room.messaging.sendMessage({ to, type, message: { path: this.path, ...message } });
    }
  }

  async close() {
    await this.room.sync.close(this.path);
  }
}

/**
 * Opens (creating when absent) the thread at `path` with the room's thread schema, makes
 * sure it has `members` and `messages`, and lists this participant as an agent member.
 */
export async function openThread(room, path, { memberName = participantName(room), memberType = "agent" } = {}) {
  const doc = await room.sync.open(path, { create: true });
  const thread = new Thread(room, path, doc);
  thread.ensureStructure();
  if (memberName !== null) thread.ensureMember(memberName, memberType);
  return thread;
}

/**
 * Calls `handler` for each thread notice sent to this participant: `chat {path, text,
 * attachments}`, `opened {path}`, `typing {path}`, `cancel {path}`. A notice without a `path`
 * is passed with `path: null` (plain messaging chat). Returns a function that stops listening.
 */
export function onThreadMessage(room, handler) {
  const kinds = new Set(["chat", "opened", "typing", "cancel", "clear"]);
  const listener = (e) => {
    const m = e.message;
    if (!kinds.has(m.type) || m.fromParticipantId === room.localParticipant?.id) return;
    const body = m.message ?? {};
    const from = room.messaging.getParticipant?.(m.fromParticipantId) ?? null;
    void Promise.resolve(handler({
      type: m.type,
      path: typeof body.path === "string" ? body.path : null,
      text: typeof body.text === "string" ? body.text : "",
      attachments: Array.isArray(body.attachments) ? body.attachments : [],
      from,
      fromParticipantId: m.fromParticipantId,
    })).catch((err) => console.error(`agent-kit: handling ${m.type} failed:`, err));
  };
  room.messaging.on("message", listener);
  return () => room.messaging.off("message", listener);
}

/**
 * Keeps one open Thread per path for an agent that answers in many threads; `get` opens on
 * first use and reuses the open document afterwards.
 */
export class ThreadCache {
  constructor(room, options = {}) {
    this.room = room;
    this.options = options;
    this.threads = new Map();
  }
  get(path) {
    let t = this.threads.get(path);
    if (t === undefined) {
      t = openThread(this.room, path, this.options);
      this.threads.set(path, t);
      t.catch(() => this.threads.delete(path));
    }
    return t;
  }
  async closeAll() {
    const all = [...this.threads.values()];
    this.threads.clear();
    for (const t of all) await (await t.catch(() => null))?.close().catch(() => undefined);
  }
}
