// An AI-agent-shaped service: connects with nothing but the injected environment
// (MESHAGENT_ROOM_URL, MESHAGENT_ROOM, MESHAGENT_TOKEN) and answers in the room chat the way
// MeshAgent's ChatBot does (docs/chat.md): a `chat {path, text}` notice about a thread gets a
// reply appended to that thread document, streamed word by word, with busy status published
// meanwhile. It has no model: the reply echoes the message, so tests can predict it.
// A plain messaging `chat` without a path gets a plain messaging answer, and everyone who
// joins is greeted (what the services tests look for).
import { createRequire } from "node:module";
import { onThreadMessage, setBusy, ThreadCache } from "@roomservice/agent-kit";

const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");
const WORD_DELAY_MS = Number(process.env.WORD_DELAY_MS ?? 40);

const room = new RoomClient();
await room.start();
room.messaging.enable();
const threads = new ThreadCache(room);

/** Stand-in for model output: the reply, one word (token) at a time. */
async function* replyTokens(text) {
  const words = `you said: ${text}`.split(/(?<= )/);
  for (const w of words) {
    await new Promise((r) => setTimeout(r, WORD_DELAY_MS));
    yield w;
  }
}

onThreadMessage(room, async (m) => {
  if (m.path === null) {
    if (m.type === "chat" && m.from) await room.messaging.sendMessage({ to: m.from, type: "chat", message: { text: `you said: ${m.text}` } });
    return;
  }
  if (m.type === "opened") {
    await threads.get(m.path);
    return;
  }
  if (m.type !== "chat") return;
  const thread = await threads.get(m.path);
  // The notice may overtake the message it announces; answer below it, not above.
  const author = m.from?.getAttribute("name");
  await thread.waitForMessage((x) => x.authorName === author && x.text === m.text, 5000);
  setBusy(room, m.path, "Thinking");
  try {
    const reply = await thread.streamMessage(replyTokens(m.text));
    await thread.notifyMembers("chat", { text: reply.text });
  } finally {
    setBusy(room, m.path, null);
  }
});

// Greet whoever is here, and everyone who joins later.
const greet = () => room.messaging.broadcastMessage({ type: "chat", message: { text: `hello from ${process.env.MESHAGENT_ROOM}` } });
room.messaging.on("participant_added", () => void greet());
await greet();
console.log("chat-agent connected to", process.env.MESHAGENT_ROOM, "session", process.env.MESHAGENT_SESSION_ID);
process.on("SIGTERM", async () => {
  await threads.closeAll().catch(() => undefined);
  room.dispose();
  process.exit(0);
});
