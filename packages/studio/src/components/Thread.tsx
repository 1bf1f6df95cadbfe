import { useEffect, useRef, useState, type FormEvent } from "react";
import type { RemoteParticipant, RoomClient, RoomEvent } from "@meshagent/meshagent";
import { errorText } from "../api.ts";
import { appendMessage, busyText, nameOf, ensureMembers, readThread, THREAD_SCHEMA_PATH, type ThreadDoc, type ThreadView } from "../thread-doc.ts";
import { FileIcon, SpeakerIcon, CloseIcon } from "./icons.tsx";
import { MicButton, useVoiceToolkit } from "./MicButton.tsx";
import { MessageText } from "./MessageText.tsx";

/**
 * The thread document's lifecycle in this panel. `new`: no file at the path yet — nothing is
 * written until the user sends a first message (opening a thread never creates one).
 */
type DocState =
  | { kind: "opening" }
  | { kind: "new" }
  | { kind: "open"; doc: ThreadDoc }
  | { kind: "no_schema" }
  | { kind: "error"; message: string };

type LiveDoc = ThreadDoc & { listen(fn: () => void): { unsubscribe(): void } };

/** Where attachments are uploaded, as MeshAgent's useChat does (`uploaded-files/<name>`). */
const UPLOAD_FOLDER = "uploaded-files";

/**
 * `uploaded-files/<name>`, or `<stem> (2)<ext>`, `(3)`, … when taken (at most 100 tries; the
 * upload itself refuses to overwrite, so a name taken meanwhile is an error, not a loss).
 */
async function freeUploadPath(client: { storage: { exists(path: string): Promise<boolean> } }, name: string): Promise<string> {
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let i = 1; i <= 100; i++) {
    const candidate = `${UPLOAD_FOLDER}/${i === 1 ? name : `${stem} (${i})${ext}`}`;
    if (!(await client.storage.exists(candidate))) return candidate;
  }
  throw new Error(`${UPLOAD_FOLDER} already has 100 files named like ${name}: rename the file`);
}
/** `typing` notices are sent at most this often while the user types (docs/chat.md). */
const TYPING_EVERY_MS = 1000;

/** A UUID, also outside secure contexts (Studio served over plain HTTP to another host has no crypto.randomUUID). */
function uuid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const isAudio = (path: string) => /\.(wav|mp3|ogg|oga|m4a|webm)$/i.test(path);
const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);
function clock(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "" : new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

/**
 * Follows the thread at `path` (waiting for nothing but the room's thread schema, as
 * MeshAgent's useDocumentConnection does). An existing thread is opened at once; a missing one
 * is left missing (`new`) until `create()` — the first message — or until someone else writes
 * it (a storage event for the path). Once open, `me` and `agent` are listed as members, the
 * agent is sent `opened`, and every document change (a message appended, an agent's reply
 * growing token by token) is read into `view`. Closes the document when unmounted.
 */
function useThreadDoc(client: RoomClient, path: string, me: string, agent: string): { state: DocState; view: ThreadView; create: () => Promise<ThreadDoc> } {
  const [state, setState] = useState<DocState>({ kind: "opening" });
  const [view, setView] = useState<ThreadView>({ members: [], messages: [] });
  const openRef = useRef<(() => Promise<ThreadDoc>) | null>(null);
  useEffect(() => {
    let alive = true;
    let opening: Promise<ThreadDoc> | null = null;
    let opened = false;
    let sub: { unsubscribe(): void } | null = null;
    // Single flight: the first message and a storage event may both ask to open.
    const open = (): Promise<ThreadDoc> => {
      if (opening !== null) return opening;
      opening = (async () => {
        const doc = (await client.sync.open(path, { create: true })) as unknown as LiveDoc;
        opened = true;
        if (!alive) {
          void client.sync.close(path).catch(() => undefined);
          throw new Error("the thread was closed");
        }
        ensureMembers(doc, [{ name: me, type: "user" }, { name: agent, type: "agent" }]);
        const read = () => setView(readThread(doc));
        sub = doc.listen(read);
        read();
        setState({ kind: "open", doc });
        // MeshAgent's Flutter client tells the agent it opened the thread (docs/chat.md).
        const p = client.messaging.remoteParticipants.find((x) => nameOf(x) === agent);
        if (p !== undefined) await client.messaging.sendMessage({ to: p, type: "opened", message: { path } }).catch(() => undefined);
        return doc;
      })();
      opening.catch((err: unknown) => {
        if (alive) setState({ kind: "error", message: `Could not open the thread ${path}: ${errorText(err)}` });
      });
      return opening;
    };
    openRef.current = open;
    // Written by someone else meanwhile (another tab, the voice service): follow it.
    const onWritten = (e: RoomEvent) => void ((e as { path?: unknown }).path === path && opening === null && open().catch(() => undefined));
    client.storage.on("file.updated", onWritten);
    void (async () => {
      try {
        if (!(await client.storage.exists(THREAD_SCHEMA_PATH))) {
          if (alive) setState({ kind: "no_schema" });
          return;
        }
        if (await client.storage.exists(path)) await open();
        else if (alive && opening === null) setState({ kind: "new" });
      } catch (err) {
        if (alive) setState({ kind: "error", message: `Could not open the thread ${path}: ${errorText(err)}` });
      }
    })();
    return () => {
      alive = false;
      openRef.current = null;
      client.storage.off("file.updated", onWritten);
      sub?.unsubscribe();
      if (opened) void client.sync.close(path).catch(() => undefined);
    };
  }, [client, path, me, agent]);
  const create = () => {
    const open = openRef.current;
    return open === null ? Promise.reject(new Error("the thread was closed")) : open();
  };
  return { state, view, create };
}

/**
 * One chat thread (docs/chat.md) between the signed-in user and an agent: the messages of the
 * thread document (people's and agents', an agent's reply growing as it streams, attached
 * files to play or download), the agent's busy status, and a composer that appends a message
 * to the document and then sends `chat {path, text, attachments}` to the thread's online
 * members, as MeshAgent's useChat does. The microphone streams to `voice.transcribe` with this
 * thread in its `thread` header, so the voice service posts what it heard here.
 */
export function Thread({ client, path, me, agent, people }: { client: RoomClient; path: string; me: string; agent: string; people: RemoteParticipant[] }) {
  const { state, view, create } = useThreadDoc(client, path, me, agent);
  const ready = state.kind === "open" || state.kind === "new";
  const [draft, setDraft] = useState("");
  const [files, setFiles] = useState<string[]>([]);
  const [uploading, setUploading] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [heard, setHeard] = useState<string | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const lastTyping = useRef(0);
  const voice = useVoiceToolkit(client);

  // The thread's members who are here now (not me): who notices go to.
  const onlineMembers = (members: ThreadView["members"]) => {
    const names = new Set(members.map((m) => m.name));
    return people.filter((p) => p.online !== false && names.has(nameOf(p)) && nameOf(p) !== me);
  };
  const online = onlineMembers(view.members);
  const busy = online.map((p) => ({ name: nameOf(p), text: busyText((n) => p.getAttribute(n), path) })).filter((b) => b.text !== null);
  const last = view.messages[view.messages.length - 1];

  // Keep the newest message in view (the list scrolls, never the page under the reader's eyes).
  useEffect(() => {
    const el = listRef.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, [view.messages.length, last?.text]);

  const notify = async (type: string, message: Record<string, unknown>, to = online) => {
    for (const p of to) await client.messaging.sendMessage({ to: p, type, message: { path, ...message } });
  };

  const typed = (text: string) => {
    setDraft(text);
    const now = Date.now();
    if (text === "" || now - lastTyping.current < TYPING_EVERY_MS) return;
    lastTyping.current = now;
    void notify("typing", {}).catch(() => undefined);
  };

  const attach = async (list: FileList | null) => {
    for (const f of Array.from(list ?? [])) {
      setUploading(f.name);
      try {
        // Never over an earlier attachment (its message still points at it): "name (2).ext", …
        const dest = await freeUploadPath(client, f.name);
        await client.storage.upload(dest, new Uint8Array(await f.arrayBuffer()), { overwrite: false });
        setFiles((fs) => (fs.includes(dest) ? fs : [...fs, dest]));
      } catch (err) {
        setProblem(`Could not attach ${f.name}: ${errorText(err)}`);
      }
    }
    setUploading(null);
    if (fileInput.current) fileInput.current.value = "";
  };

  const send = async (e: FormEvent) => {
    e.preventDefault();
    const text = draft.trim();
    if (!ready || (text === "" && files.length === 0)) return;
    setProblem(null);
    let doc: ThreadDoc;
    try {
      // The first message is what creates the thread's file.
      doc = state.kind === "open" ? state.doc : await create();
      appendMessage(doc, { id: uuid(), text, authorName: me, files, now: new Date() });
    } catch (err) {
      setProblem(`Not sent: ${errorText(err)}`);
      return;
    }
    const sentFiles = files;
    setDraft("");
    setFiles([]);
    try {
      // Members read from the document now: a thread created by this message has them only now.
      await notify("chat", { text, attachments: sentFiles.map((p) => ({ path: p })) }, onlineMembers(readThread(doc).members));
    } catch (err) {
      setProblem(`Your message is in the thread, but telling ${agent} failed: ${errorText(err)}`);
    }
  };

  const open = async (file: string) => {
    try {
      const url = await client.storage.downloadUrl(file);
      if (isAudio(file)) await new Audio(url).play();
      else {
        const a = document.createElement("a");
        a.href = url;
        a.download = baseName(file);
        a.click();
      }
    } catch (err) {
      setProblem(`Could not open ${file}: ${errorText(err)}`);
    }
  };

  if (state.kind === "no_schema") return <p role="alert" className="error">This room has no thread schema ({THREAD_SCHEMA_PATH} in its storage), so its chat threads cannot be opened.</p>;
  if (state.kind === "error") return <p role="alert" className="error">{state.message}</p>;
  return (
    <div className="thread" aria-busy={state.kind === "opening"}>
      <ol ref={listRef} className="chat-lines" aria-label="Chat messages" aria-live="polite">
        {view.messages.map((m, i) => (
          <li key={m.id === "" ? `#${i}` : m.id} className={m.authorName === me ? "mine" : ""} data-author={m.authorName}>
            <span className="from">{m.authorName === me ? "you" : m.authorName}</span>{" "}
            <time className="muted small" dateTime={m.createdAt}>{clock(m.createdAt)}</time>{" "}
            <MessageText text={m.text} />
            {m.files.length > 0 && (
              <span className="attachments">
                {m.files.map((f) => (
                  <button key={f} type="button" className="attachment" onClick={() => void open(f)} aria-label={`${isAudio(f) ? "Play" : "Download"} ${baseName(f)}`} title={f}>
                    {isAudio(f) ? <SpeakerIcon /> : <FileIcon />} {baseName(f)}
                  </button>
                ))}
              </span>
            )}
          </li>
        ))}
        {state.kind === "opening" && <li className="hint-line muted">Opening the thread…</li>}
        {ready && view.messages.length === 0 && <li className="hint-line muted">No messages yet: say something to {agent}.</li>}
      </ol>
      <p className="thread-busy small muted" aria-live="polite">
        {busy.map((b) => <span key={b.name}>{b.name}: {b.text}… </span>)}
        {busy.length === 0 && !people.some((p) => p.online !== false && nameOf(p) === agent) && <span>{agent} is not in the room; it reads the thread when it is.</span>}
      </p>
      {files.length > 0 && (
        <ul className="pending-files" aria-label="Attachments to send">
          {files.map((f) => (
            <li key={f}><FileIcon /> {baseName(f)} <button type="button" className="ghost" aria-label={`Remove attachment ${baseName(f)}`} onClick={() => setFiles((fs) => fs.filter((x) => x !== f))}><CloseIcon size={12} /></button></li>
          ))}
        </ul>
      )}
      {problem !== null && <p role="alert" className="error small">{problem}</p>}
      <form className="chat-send" onSubmit={send}>
        <input aria-label="Message" placeholder={`Message ${agent}`} value={draft} onChange={(e) => typed(e.target.value)} disabled={!ready} />
        <label className="button" title="Attach files (uploaded to uploaded-files/ in room storage)">
          <FileIcon /><span className="sr-only">Attach files</span>
          <input ref={fileInput} type="file" multiple className="sr-only" onChange={(e) => void attach(e.target.files)} disabled={!ready} />
        </label>
        <button type="submit" className="primary" disabled={!ready || uploading !== null || (draft.trim() === "" && files.length === 0)}>Send</button>
        <MicButton client={client} available={voice} thread={path} onTranscript={setHeard} />
      </form>
      {uploading !== null && <p className="small muted">Uploading {uploading}…</p>}
      {heard !== null && <p className="small muted mic-heard">Heard: “{heard}”</p>}
    </div>
  );
}
