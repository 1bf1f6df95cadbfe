// A chat page made of MeshAgent's own published pieces, untouched (0.35.8): the room
// connection hook of @meshagent/meshagent-react and the Tailwind `Chat` component of
// @meshagent/meshagent-tailwind (which uses the React `useChat` hook for the thread
// document). Connection parameters come from the query string:
//   ?url=ws://host/rooms/<room>&jwt=<token with an api grant>&path=<thread>&agent=<name>
import { createRoot } from "react-dom/client";
import { useRoomConnection, staticAuthorization, useRoomParticipants } from "@meshagent/meshagent-react";
import { Chat } from "@meshagent/meshagent-tailwind";
import "@meshagent/meshagent-tailwind/dist/index.css";

const q = new URLSearchParams(location.search);
const authorization = staticAuthorization({ url: q.get("url"), jwt: q.get("jwt") });
const path = q.get("path") ?? ".threads/chat.thread";
const agent = q.get("agent") ?? "agent";

// useChat (0.35.8) computes its online members from a generator that is consumed once, so
// it only notices an agent that is already in the room when the thread opens (or when the
// thread changes later). The page therefore opens the chat once the agent is present.
function WhenAgentPresent({ room }) {
  const participants = useRoomParticipants(room);
  const agentParticipant = participants.find((p) => p.getAttribute("name") === agent);
  if (agentParticipant === undefined) return <p className="status" data-testid="presence">waiting for {agent}</p>;
  return (
    <>
      <p className="status" data-testid="presence">{agent} is online</p>
      <div className="chat">
        <Chat room={room} path={path} participants={[agentParticipant]} />
      </div>
    </>
  );
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
