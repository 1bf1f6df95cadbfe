/**
 * The room chat's thread documents (docs/chat.md), read and written through the SDK's
 * document elements. A thread is a `sync` document: `thread` → `members` (`member {name,
 * type}`) and `messages` (`message {id, text, created_at, author_name, author_ref}` with `file
 * {path}` children). What MeshAgent's `useChat` (@meshagent/meshagent-react 0.35.8) does, in
 * plain functions the chat panel calls and the unit test runs on a real SDK document.
 */

/** Where MeshAgent's chat clients look for the thread schema before opening a thread. */
export const THREAD_SCHEMA_PATH = ".schemas/thread.json";
/** The folder threads live in, by MeshAgent's convention. */
export const THREADS_FOLDER = ".threads";

/** Display name of an SDK participant: its `name` attribute (its token identity), else its id. */
export function nameOf(p: { id: string; getAttribute(n: string): unknown } | null | undefined, fallback = p?.id ?? "?"): string {
  const n = p?.getAttribute("name");
  return typeof n === "string" && n !== "" ? n : fallback;
}

/** The part of the SDK's document element the chat uses (`Element` in its document.js). */
export interface ThreadElement {
  tagName?: string;
  getAttribute(name: string): unknown;
  getChildren(): unknown[];
  createChildElement(tagName: string, attributes: Record<string, unknown>): ThreadElement;
}

/** A thread document: its root element (the SDK's MeshDocument). */
export interface ThreadDoc {
  root: ThreadElement;
}

export interface ThreadMember {
  name: string;
  type: "user" | "agent" | null;
}

export interface ThreadMessage {
  id: string;
  text: string;
  /** ISO 8601, as written by its author (may be empty when an author left it out). */
  createdAt: string;
  authorName: string;
  /** Room storage paths of the attached files, in order. */
  files: string[];
}

export interface ThreadView {
  members: ThreadMember[];
  messages: ThreadMessage[];
}

const isElement = (n: unknown): n is ThreadElement => typeof n === "object" && n !== null && typeof (n as ThreadElement).tagName === "string";
const str = (v: unknown): string => (typeof v === "string" ? v : "");

function child(el: ThreadElement, tag: string): ThreadElement | null {
  return el.getChildren().filter(isElement).find((c) => c.tagName === tag) ?? null;
}

/**
 * The path of the thread between an agent and a user: `.threads/<agent>-<user>.thread`
 * (docs/chat.md). Characters that do not belong in a file name (a `/`, the `:` of an API key
 * identity) become `_`, so the thread is one file directly in `.threads/`.
 */
export function threadPath(agent: string, user: string): string {
  const safe = (s: string) => s.replace(/[^\p{L}\p{N}._@+-]/gu, "_");
  return `${THREADS_FOLDER}/${safe(agent)}-${safe(user)}.thread`;
}

/** Members and messages as plain values (oldest message first), for rendering. */
export function readThread(doc: ThreadDoc): ThreadView {
  const members = (child(doc.root, "members")?.getChildren() ?? []).filter(isElement).filter((m) => m.tagName === "member").map((m): ThreadMember => {
    const type = m.getAttribute("type");
    return { name: str(m.getAttribute("name")), type: type === "user" || type === "agent" ? type : null };
  }).filter((m, i, all) => m.name !== "" && all.findIndex((o) => o.name === m.name) === i);
  // (once per name: Studio and the agent may both add a missing member at the same moment,
  // and a CRDT keeps both inserts)
  const messages = (child(doc.root, "messages")?.getChildren() ?? []).filter(isElement).filter((m) => m.tagName === "message").map((m) => ({
    id: str(m.getAttribute("id")),
    text: str(m.getAttribute("text")),
    createdAt: str(m.getAttribute("created_at")),
    authorName: str(m.getAttribute("author_name")),
    files: m.getChildren().filter(isElement).filter((f) => f.tagName === "file").map((f) => str(f.getAttribute("path"))).filter((p) => p !== ""),
  }));
  return { members, messages };
}

/**
 * Makes sure the thread has `members` and `messages` (a document made elsewhere may lack
 * them; MeshAgent's hook then does nothing) and lists each of `members` once.
 */
export function ensureMembers(doc: ThreadDoc, members: ThreadMember[]): void {
  if (child(doc.root, "members") === null) doc.root.createChildElement("members", {});
  if (child(doc.root, "messages") === null) doc.root.createChildElement("messages", {});
  const list = child(doc.root, "members")!;
  const have = new Set(readThread(doc).members.map((m) => m.name));
  for (const m of members) {
    if (have.has(m.name)) continue;
    list.createChildElement("member", m.type === null ? { name: m.name } : { name: m.name, type: m.type });
    have.add(m.name);
  }
}

/**
 * Appends a message as `useChat` does: `message {id, text, created_at, author_name,
 * author_ref: null}` with a `file {path}` child per attachment. Throws when the thread has no
 * `messages` element (call ensureMembers first).
 */
export function appendMessage(doc: ThreadDoc, m: { id: string; text: string; authorName: string; files: string[]; now: Date }): void {
  const list = child(doc.root, "messages");
  if (list === null) throw new Error("the thread document has no messages element");
  const el = list.createChildElement("message", { id: m.id, text: m.text, created_at: m.now.toISOString(), author_name: m.authorName, author_ref: null });
  for (const path of m.files) el.createChildElement("file", { path });
}

/** The agent's busy text for a thread (`thread.status.text.<path>`, docs/chat.md), or null. */
export function busyText(attr: (name: string) => unknown, path: string): string | null {
  const v = attr(`thread.status.text.${path}`) ?? attr(`thread.status.${path}`);
  return typeof v === "string" && v !== "" ? v : null;
}

/**
 * The participant attribute a chat agent publishes on itself: MeshAgent's ChatBot sets
 * `empty_state_title` (the line its chat UIs show above an empty thread) when it starts, and
 * agents that do not chat (a toolkit, a pipeline) do not. The example agents set it too
 * (`advertiseChat` in @roomservice/agent-kit).
 */
export const CHAT_ATTRIBUTE = "empty_state_title";

/** Whether a participant is an agent that answers in chat threads (it has CHAT_ATTRIBUTE). */
export function canChat(p: { role: string; getAttribute(n: string): unknown }): boolean {
  const v = p.getAttribute(CHAT_ATTRIBUTE);
  return p.role === "agent" && typeof v === "string" && v !== "";
}

/**
 * The agents a user can talk to: the names of chat agents online now plus those of the user's
 * existing threads (`<agent>-<user>.thread` in `.threads/`), once each, sorted — except
 * threads with agents in `notChatting` (online, but they say they do not chat).
 */
export function agentChoices(onlineAgents: string[], threadFiles: string[], user: string, notChatting: string[] = []): string[] {
  const suffix = threadPath("", user).slice(THREADS_FOLDER.length + 1); // "-<user>.thread"
  const fromFiles = threadFiles.filter((f) => f.endsWith(suffix) && f.length > suffix.length).map((f) => f.slice(0, -suffix.length));
  const online = new Set(onlineAgents);
  // A file name is the agent's safe name: prefer the online agent it stands for.
  const named = (safe: string) => (a: string) => threadPath(a, user) === `${THREADS_FOLDER}/${safe}${suffix}`;
  const known = fromFiles.filter((safe) => ![...online].some(named(safe)) && !notChatting.some(named(safe)));
  return [...new Set([...onlineAgents, ...known])].sort((a, b) => a.localeCompare(b));
}

/** The prefix the voice example puts on a reply it spoke (examples/voice: `🔊 <text>`). */
const SPOKEN_PREFIX = "\u{1F50A}";

/**
 * A message's text split for display: `spoken` when it starts with the voice example's 🔊
 * (shown as an icon — a machine without an emoji font would draw the character as a box),
 * `text` without it.
 */
export function splitSpoken(text: string): { spoken: boolean; text: string } {
  if (!text.startsWith(SPOKEN_PREFIX)) return { spoken: false, text };
  return { spoken: true, text: text.slice(SPOKEN_PREFIX.length).replace(/^[\uFE0F\s]+/u, "") };
}
