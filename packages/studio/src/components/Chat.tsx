import { useEffect, useRef, useState, type FormEvent } from "react";
import type { RemoteParticipant, RoomClient, RoomMessageEvent } from "@meshagent/meshagent";
import { useApi } from "../App.tsx";
import { errorText } from "../api.ts";
import { MicButton, useVoiceToolkit } from "./MicButton.tsx";

interface ChatLine {
  id: number;
  from: string;
  text: string;
  at: number;
  mine: boolean;
}

type Connection =
  | { kind: "idle" }
  | { kind: "joining" }
  | { kind: "joined"; client: RoomClient }
  | { kind: "error"; message: string };

/** Display name of an SDK participant (its `name` attribute, else its id). */
function nameOf(p: RemoteParticipant | null | undefined, fallback: string): string {
  const n = p?.getAttribute("name");
  return typeof n === "string" && n !== "" ? n : fallback;
}

/**
 * Joins the room in the browser as the signed-in user: a participant token from
 * `POST .../rooms/{room}/connect`, then the public `@meshagent/meshagent` SDK's RoomClient
 * over the Room API WebSocket. Messages are MeshAgent `chat` messages, so agents answer.
 * The joined client is handed up (`onClient`) so the storage panel can use it too.
 */
export function Chat({ room, onClient }: { room: string; onClient: (c: RoomClient | null) => void }) {
  const api = useApi();
  const [conn, setConn] = useState<Connection>({ kind: "idle" });
  const [lines, setLines] = useState<ChatLine[]>([]);
  const [people, setPeople] = useState<RemoteParticipant[]>([]);
  const [to, setTo] = useState("");
  const [draft, setDraft] = useState("");
  const nextId = useRef(1);
  const listRef = useRef<HTMLOListElement>(null);
  const clientRef = useRef<RoomClient | null>(null);

  const add = (l: Omit<ChatLine, "id">) => setLines((ls) => [...ls.slice(-499), { ...l, id: nextId.current++ }]);

  const leave = () => {
    const c = clientRef.current;
    clientRef.current = null;
    onClient(null);
    setPeople([]);
    setConn({ kind: "idle" });
    c?.dispose();
  };

  useEffect(() => () => {
    clientRef.current?.dispose();
    clientRef.current = null;
  }, []);
  // Keep the newest message in view by scrolling the list itself (scrollIntoView would also
  // scroll the page under the reader's eyes).
  useEffect(() => {
    const el = listRef.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, [lines.length]);

  const join = async () => {
    setConn({ kind: "joining" });
    try {
      // The SDK (most of the room page's weight) loads on the first join, not with the page.
      const [{ jwt }, { RoomClient, WebSocketClientProtocol }] = await Promise.all([
        api.post<{ jwt: string; room_url: string }>(api.room(room, "/connect")),
        import("@meshagent/meshagent"),
      ]);
      // Same origin as the page (the server's own room_url uses the Host it saw).
      const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rooms/${encodeURIComponent(room)}`;
      const client = new RoomClient({ protocolFactory: WebSocketClientProtocol.createFactory({ url, token: jwt }), reconnectTimeout: 0 });
      await client.start({ onDone: () => clientRef.current === client && leave(), onError: () => undefined });
      const refresh = () => setPeople([...client.messaging.remoteParticipants]);
      client.messaging.on("participant_added", refresh);
      client.messaging.on("participant_removed", refresh);
      client.messaging.on("participant_attributes_updated", refresh);
      client.messaging.on("messaging_enabled", refresh);
      client.messaging.on("message", (e: RoomMessageEvent) => {
        const m = e.message;
        if (m.type !== "chat" || m.local) return;
        // The voice service posts what it heard from us as a transcript; the microphone
        // already showed it, as it arrived from the transcribe stream.
        if (m.message?.transcript === true && m.message.speaker === client.localParticipant?.getAttribute("name")) return;
        const from = client.messaging.getParticipant(m.fromParticipantId);
        add({ from: nameOf(from, m.fromParticipantId), text: String(m.message?.text ?? ""), at: Date.now(), mine: false });
      });
      client.messaging.enable();
      clientRef.current = client;
      onClient(client);
      setConn({ kind: "joined", client });
      refresh();
    } catch (err) {
      setConn({ kind: "error", message: `Could not join: ${errorText(err)}` });
    }
  };

  const send = async (e: FormEvent) => {
    e.preventDefault();
    if (conn.kind !== "joined" || draft.trim() === "") return;
    const text = draft.trim();
    setDraft("");
    try {
      const target = to === "" ? null : conn.client.messaging.getParticipant(to);
      if (target === null) await conn.client.messaging.broadcastMessage({ type: "chat", message: { text } });
      else await conn.client.messaging.sendMessage({ to: target, type: "chat", message: { text } });
      add({ from: "you", text, at: Date.now(), mine: true });
    } catch (err) {
      add({ from: "Studio", text: `Not sent: ${errorText(err)}`, at: Date.now(), mine: false });
    }
  };

  if (conn.kind !== "joined") {
    return (
      <div className="chat idle">
        <p className="muted">Join the room as <strong>{api.session.identity}</strong> to see who is here and talk to its agents. Joining starts a session: the room's services start the moment you join.</p>
        <button type="button" className="primary" onClick={join} disabled={conn.kind === "joining"}>Join room</button>
        {conn.kind === "joining" && <span className="muted" role="status"> Joining…</span>}
        {conn.kind === "error" && <p role="alert" className="error">{conn.message}</p>}
      </div>
    );
  }
  return (
    <div className="chat">
      <div className="chat-head">
        <span className="badge tone-ok">joined</span>
        <span className="muted small">as {api.session.identity}{conn.client.sessionId ? ` · session ${conn.client.sessionId}` : ""}</span>
        <button type="button" onClick={leave}>Leave room</button>
      </div>
      <ul className="chat-people" aria-label="People in chat">
        {people.length === 0 ? <li className="muted">Nobody else is here yet.</li> : people.map((p) => (
          <li key={p.id}><span className={`dot ${p.online === false ? "" : "on"}`} aria-hidden="true" />{nameOf(p, p.id)} <span className="muted small">{p.role}</span></li>
        ))}
      </ul>
      <ol ref={listRef} className="chat-lines" aria-label="Chat messages" aria-live="polite">
        {lines.map((l) => (
          <li key={l.id} className={l.mine ? "mine" : ""}>
            <span className="from">{l.from}</span> <span className="text">{l.text}</span>
          </li>
        ))}
        {lines.length === 0 && <li className="hint-line muted">Messages to and from the room appear here.</li>}
      </ol>
      <form className="chat-send" onSubmit={send}>
        <select aria-label="Send to" value={to} onChange={(e) => setTo(e.target.value)}>
          <option value="">Everyone</option>
          {people.map((p) => <option key={p.id} value={p.id}>{nameOf(p, p.id)}</option>)}
        </select>
        <input aria-label="Message" placeholder="Message" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <button type="submit" className="primary" disabled={draft.trim() === ""}>Send</button>
        <VoiceInput client={conn.client} onTranscript={(text) => add({ from: "you (spoken)", text, at: Date.now(), mine: true })} />
      </form>
    </div>
  );
}

/** The microphone button, shown while the room has the `voice` toolkit. */
function VoiceInput({ client, onTranscript }: { client: RoomClient; onTranscript: (text: string) => void }) {
  return <MicButton client={client} available={useVoiceToolkit(client)} onTranscript={onTranscript} />;
}
