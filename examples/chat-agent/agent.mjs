// An AI-agent-shaped service: connects with nothing but the injected environment
// (MESHAGENT_ROOM_URL, MESHAGENT_ROOM, MESHAGENT_TOKEN), greets the room, and answers every
// "chat" message it receives.
import { createRequire } from "node:module";
const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");

const room = new RoomClient();
await room.start();
room.messaging.enable();
room.messaging.on("message", async (e) => {
  const m = e.message;
  if (m.type !== "chat" || m.fromParticipantId === room.localParticipant?.id) return;
  const to = room.messaging.getParticipant(m.fromParticipantId);
  if (to) await room.messaging.sendMessage({ to, type: "chat", message: { text: `you said: ${m.message.text}` } });
});
// Greet whoever is here, and everyone who joins later.
const greet = () => room.messaging.broadcastMessage({ type: "chat", message: { text: `hello from ${process.env.MESHAGENT_ROOM}` } });
room.messaging.on("participant_added", () => void greet());
await greet();
console.log("chat-agent connected to", process.env.MESHAGENT_ROOM, "session", process.env.MESHAGENT_SESSION_ID);
process.on("SIGTERM", () => { room.dispose(); process.exit(0); });
