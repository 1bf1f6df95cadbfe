// A chat page that uses MeshAgent's React hooks exactly as published (0.35.8): the room
// connection hook, and `useChat` for the thread document. Connection parameters come from
// the query string: ?url=ws://host/rooms/<room>&jwt=<token with an api grant>&path=<thread>&agent=<name>
import { createRoot } from "react-dom/client";
import { useState } from "react";
import { useRoomConnection, staticAuthorization, useChat, useRoomIndicators, useRoomParticipants } from "@meshagent/meshagent-react";

const q = new URLSearchParams(location.search);
const authorization = staticAuthorization({ url: q.get("url"), jwt: q.get("jwt") });
const path = q.get("path") ?? ".threads/chat.thread";
const agent = q.get("agent") ?? "agent";

function Chat({ room }) {
  const { messages, sendMessage, schemaFileExists, onlineParticipants } = useChat({ room, path, participantNames: [agent] });
  const { thinking } = useRoomIndicators({ room, path });
  const [draft, setDraft] = useState("");
  const me = room.localParticipant?.getAttribute("name");
  if (!schemaFileExists) return <p className="status">No thread schema in this room (.schemas/thread.json)</p>;
  const agentOnline = onlineParticipants.some((p) => p.getAttribute("name") === agent);
  return (
    <>
      <p className="status" data-testid="presence">{agentOnline ? `${agent} is online` : `waiting for ${agent}`}{thinking ? " · thinking" : ""}</p>
      <ol data-testid="messages">
        {messages.map((m) => (
          <li key={m.id} className={m.getAttribute("author_name") === me ? "mine" : ""} data-author={m.getAttribute("author_name")}>
            <b>{m.getAttribute("author_name")}</b>
            {m.getAttribute("text")}
          </li>
        ))}
      </ol>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (draft.trim() === "") return;
          sendMessage({ id: crypto.randomUUID(), text: draft, attachments: [] });
          setDraft("");
        }}
      >
        <input data-testid="draft" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Message" disabled={!agentOnline} />
        <button type="submit" disabled={!agentOnline}>Send</button>
      </form>
    </>
  );
}

// useChat (0.35.8) computes its online members from a generator that is consumed once, so
// it only notices an agent that is already in the room when the thread opens (or when the
// thread changes later). The page therefore opens the chat once the agent is present.
function WhenAgentPresent({ room }) {
  const participants = useRoomParticipants(room);
  if (!participants.some((p) => p.getAttribute("name") === agent)) return <p className="status" data-testid="presence">waiting for {agent}</p>;
  return <Chat room={room} />;
}

function App() {
  const { client, state, error } = useRoomConnection({ authorization });
  return (
    <main>
      <header>
        <h1>Room chat</h1>
        <span className="status" data-testid="state">{state}{error ? `: ${error.message ?? error}` : ""}</span>
      </header>
      {state === "ready" && client ? <WhenAgentPresent room={client} /> : null}
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
