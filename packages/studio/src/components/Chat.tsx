import { useEffect, useRef, useState } from "react";
import type { RemoteParticipant, RoomClient, RoomMessageEvent } from "@meshagent/meshagent";
import { useApi } from "../App.tsx";
import { errorText } from "../api.ts";
import { agentChoices, canChat, nameOf, THREADS_FOLDER, threadPath } from "../thread-doc.ts";
import { Thread } from "./Thread.tsx";
import { MessageText } from "./MessageText.tsx";

/** A chat message sent to the room outside any thread (an agent's greeting, say). */
interface Notice {
  id: number;
  from: string;
  text: string;
}

type Connection =
  | { kind: "idle" }
  | { kind: "joining" }
  | { kind: "joined"; client: RoomClient; me: string }
  | { kind: "error"; message: string };

/** How many room-wide notices are kept on screen. */
const MAX_NOTICES = 20;

/**
 * Joins the room in the browser as the signed-in user: a participant token from
 * `POST .../rooms/{room}/connect`, then the public `@meshagent/meshagent` SDK's RoomClient
 * over the Room API WebSocket. The conversation is a thread document with one agent at a time
 * (docs/chat.md: `.threads/<agent>-<user>.thread`), as in MeshAgent's own clients; chat
 * messages sent to the whole room outside a thread (greetings) show above it. The joined
 * client is handed up (`onClient`) so the storage and progress panels can use it too.
 */
export function Chat({ room, onClient }: { room: string; onClient: (c: RoomClient | null) => void }) {
  const api = useApi();
  const [conn, setConn] = useState<Connection>({ kind: "idle" });
  const [notices, setNotices] = useState<Notice[]>([]);
  const [people, setPeople] = useState<RemoteParticipant[]>([]);
  const [threadFiles, setThreadFiles] = useState<string[]>([]);
  const [agent, setAgent] = useState<string | null>(null);
  const nextId = useRef(1);
  const clientRef = useRef<RoomClient | null>(null);

  const leave = () => {
    const c = clientRef.current;
    clientRef.current = null;
    onClient(null);
    setPeople([]);
    setAgent(null);
    setConn({ kind: "idle" });
    c?.dispose();
  };

  useEffect(() => () => {
    clientRef.current?.dispose();
    clientRef.current = null;
  }, []);

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
      const me = nameOf(client.localParticipant, api.me);
      client.messaging.on("message", (e: RoomMessageEvent) => {
        const m = e.message;
        if (m.type !== "chat" || m.local) return;
        // A thread's notice: its message is in the document, which the thread view shows.
        if (typeof m.message?.path === "string") return;
        // The voice service broadcasts what it heard from us; the thread shows it already.
        if (m.message?.transcript === true && m.message.speaker === me) return;
        const from = nameOf(client.messaging.getParticipant(m.fromParticipantId), m.fromParticipantId);
        setNotices((ns) => [...ns.slice(-(MAX_NOTICES - 1)), { id: nextId.current++, from, text: String(m.message?.text ?? "") }]);
      });
      client.messaging.enable();
      clientRef.current = client;
      onClient(client);
      setConn({ kind: "joined", client, me });
      refresh();
      // Threads this user already has (with agents that may not be here now).
      client.storage.list(THREADS_FOLDER).then((l) => setThreadFiles(l.filter((f) => !f.isFolder).map((f) => f.name)), () => setThreadFiles([]));
    } catch (err) {
      setConn({ kind: "error", message: `Could not join: ${errorText(err)}` });
    }
  };

  const joined = conn.kind === "joined" ? conn : null;
  // Only agents that say they chat (docs/chat.md): a thread with any other would never be answered.
  const choices = joined === null ? [] : agentChoices(
    people.filter(canChat).map((p) => nameOf(p)), threadFiles, joined.me,
    people.filter((p) => p.role === "agent" && !canChat(p)).map((p) => nameOf(p)),
  );
  // The first agent to show up is talked to until the user picks another.
  useEffect(() => {
    if (agent === null && choices.length > 0) setAgent(choices[0]!);
  }, [agent, choices.join("\u0000")]);

  if (joined === null) {
    return (
      <div className="chat idle">
        <p className="muted">Join the room as <strong>{api.me}</strong> to see who is here and talk to its agents. Joining starts a session: the room's services start the moment you join.</p>
        <button type="button" className="primary" onClick={join} disabled={conn.kind === "joining"}>Join room</button>
        {conn.kind === "joining" && <span className="muted" role="status"> Joining…</span>}
        {conn.kind === "error" && <p role="alert" className="error">{conn.message}</p>}
      </div>
    );
  }
  const path = agent === null ? null : threadPath(agent, joined.me);
  return (
    <div className="chat">
      <div className="chat-head">
        <span className="badge tone-ok">joined</span>
        <span className="muted small">as {joined.me}{joined.client.sessionId ? ` · session ${joined.client.sessionId}` : ""}</span>
        <button type="button" onClick={leave}>Leave room</button>
      </div>
      <ul className="chat-people" aria-label="People in chat">
        {people.length === 0 ? <li className="muted">Nobody else is in the chat yet.</li> : people.map((p) => (
          <li key={p.id}><span className={`dot ${p.online === false ? "" : "on"}`} aria-hidden="true" />{nameOf(p)} <span className="muted small">{p.role}</span></li>
        ))}
      </ul>
      {notices.length > 0 && (
        <ol className="chat-notices" aria-label="Room messages">
          {notices.map((n) => <li key={n.id}><span className="from">{n.from}</span> <MessageText text={n.text} /></li>)}
        </ol>
      )}
      <div className="thread-bar">
        <label className="inline">
          <span className="small muted">Thread with</span>{" "}
          <select aria-label="Thread with" value={agent ?? ""} onChange={(e) => setAgent(e.target.value === "" ? null : e.target.value)} disabled={choices.length === 0}>
            {choices.length === 0 && <option value="">no chat agent here yet</option>}
            {choices.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        {path !== null && <span className="mono small muted thread-path" title="The thread document in room storage">{path}</span>}
      </div>
      {path === null || agent === null
        ? <p className="muted small">A thread opens here once an agent that chats is in the room (services that only offer tools do not).</p>
        : <Thread key={path} client={joined.client} path={path} me={joined.me} agent={agent} people={people} />}
    </div>
  );
}
