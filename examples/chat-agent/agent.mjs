// An AI agent service: connects with nothing but the injected environment
// (MESHAGENT_ROOM_URL, MESHAGENT_ROOM, MESHAGENT_TOKEN) and answers in the room chat the way
// MeshAgent's ChatBot does (docs/chat.md): a `chat {path, text}` notice about a thread gets a
// reply appended to that thread document, streamed token by token, with busy status published
// meanwhile. The thread's messages are the model's context.
// The model is whatever OpenAI-compatible upstream the operator configured behind the room
// server's LLM proxy ($MESHAGENT_API_URL/openai/v1, authenticated with this service's own
// MESHAGENT_TOKEN: the provider's key never enters this container). With none configured it
// answers with a deterministic built-in responder ("you said: …") and says so in the chat.
// A plain messaging `chat` without a path gets a plain messaging answer, and each person who
// joins (not other agents) is greeted once (what the services tests look for).
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { advertiseChat, onThreadMessage, quietDocumentChangeLog, setBusy, ThreadCache } from "@roomservice/agent-kit";

// The SDK logs every document change (thread messages included) with console.log: not in our service log.
quietDocumentChangeLog();

const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");
const WORD_DELAY_MS = Number(process.env.WORD_DELAY_MS ?? 40);

const room = new RoomClient();
// Readiness that means "joined the room": the manifest's readiness probe asks GET /ready on
// READY_PORT, answered 200 only once this agent is connected with messaging on. Without it a
// service with no ports counts as ready a second after its process starts, long before a cold
// agent has joined, and the first chat message of a session goes to nobody.
let joined = false;
createServer((req, res) => res.writeHead(joined ? 200 : 503).end(joined ? "joined" : "joining"))
  .listen(Number(process.env.READY_PORT ?? 9201), "127.0.0.1");
let threads = null;
// Set before anything awaits: a stop that comes while connecting must still end with 0. With
// no handler, Node dies of the SIGTERM and the service shows "exited with code 143".
process.on("SIGTERM", async () => {
  const forced = setTimeout(() => process.exit(0), 3000);
  forced.unref();
  await threads?.closeAll().catch(() => undefined);
  try {
    room.dispose();
  } catch {
    // already closed by the server ending the session
  }
  process.exit(0);
});
await room.start();
// It answers in chat threads: clients offer a thread only with agents that say so.
advertiseChat(room);
room.messaging.enable();
threads = new ThreadCache(room);
// Joined once the server has enabled messaging for us (others have been told we are here).
room.messaging.on("message", (e) => {
  if (e.message.type === "messaging.enabled") joined = true;
});

// As MeshAgent's agents do: OPENAI_BASE_URL / OPENAI_API_KEY win when set.
const LLM_BASE_URL = (process.env.OPENAI_BASE_URL ?? `${process.env.MESHAGENT_API_URL}/openai/v1`).replace(/\/+$/, "");
const LLM_KEY = process.env.OPENAI_API_KEY ?? process.env.MESHAGENT_TOKEN;
const MODEL = process.env.OPENAI_MODEL ?? "gpt-4o-mini";
const SYSTEM_PROMPT = process.env.SYSTEM_PROMPT ?? "You are a helpful assistant in a shared chat room. Answer briefly.";
const HISTORY_MESSAGES = 40;

/** The built-in responder: the reply, one word (token) at a time, until `signal` aborts. */
async function* builtinTokens(text, signal) {
  for (const w of `you said: ${text}`.split(/(?<= )/)) {
    await new Promise((r) => setTimeout(r, WORD_DELAY_MS));
    if (signal?.aborted) return;
    yield w;
  }
}

/** Thrown when the room server has no model configured (the proxy's 503 llm_not_configured). */
class NoModel extends Error {}

/**
 * Streams a chat completion through the LLM proxy: yields content deltas as they arrive.
 * `messages` are OpenAI chat messages. Throws NoModel when no upstream is configured.
 */
async function* modelTokens(messages, signal) {
  const res = await fetch(`${LLM_BASE_URL}/chat/completions`, {
    method: "POST",
    signal, // a cancel closes the upstream request: the model stops generating (and billing)
    headers: { "content-type": "application/json", authorization: `Bearer ${LLM_KEY}` },
    body: JSON.stringify({ model: MODEL, stream: true, stream_options: { include_usage: true }, messages: [{ role: "system", content: SYSTEM_PROMPT }, ...messages] }),
  });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    if (res.status === 503 && body?.error?.code === "llm_not_configured") throw new NoModel(body.error.message);
    throw new Error(`the model answered HTTP ${res.status}: ${body?.error?.message ?? "no details"}`);
  }
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of res.body) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      const delta = JSON.parse(data).choices?.[0]?.delta?.content;
      if (typeof delta === "string" && delta !== "") yield delta;
    }
  }
}

/**
 * The reply's tokens: from the model when one is configured, else the built-in responder.
 * A model error becomes the reply's text, so the person in the chat sees what went wrong.
 */
async function* replyTokens(history, text, signal) {
  try {
    yield* modelTokens(history, signal);
  } catch (err) {
    if (signal?.aborted) return;
    if (err instanceof NoModel) yield* builtinTokens(text, signal);
    else yield `(the model failed: ${err.message})`;
  }
}

/** Replies in progress by thread path: a `cancel {path}` notice aborts the thread's replies. */
const replies = new Map();

/** The thread's last messages as model context: this agent's are "assistant", others "user". */
function historyOf(thread, me) {
  return thread.messages().slice(-HISTORY_MESSAGES)
    .filter((x) => x.text !== "")
    .map((x) => (x.authorName === me ? { role: "assistant", content: x.text } : { role: "user", content: `${x.authorName}: ${x.text}` }));
}

onThreadMessage(room, async (m) => {
  if (m.path === null) {
    if (m.type !== "chat" || !m.from) return;
    let text = "";
    for await (const t of replyTokens([{ role: "user", content: m.text }], m.text)) text += t;
    await room.messaging.sendMessage({ to: m.from, type: "chat", message: { text } });
    return;
  }
  if (m.type === "cancel") {
    // docs/chat.md: stop the reply in progress; its message keeps what was written so far.
    for (const r of replies.get(m.path) ?? []) r.abort();
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
  const history = historyOf(thread, room.localParticipant?.getAttribute("name"));
  const cancel = new AbortController();
  const inThread = replies.get(m.path) ?? new Set();
  replies.set(m.path, inThread.add(cancel));
  setBusy(room, m.path, "Thinking");
  try {
    const reply = await thread.streamMessage(replyTokens(history, m.text, cancel.signal), { signal: cancel.signal });
    // A cancelled reply is not announced: the person who cancelled it is looking at it.
    if (!cancel.signal.aborted) await thread.notifyMembers("chat", { text: reply.text }, { agents: false });
  } finally {
    inThread.delete(cancel);
    // Busy until the thread's last reply ends (several questions may be answered at once).
    if (inThread.size === 0) {
      replies.delete(m.path);
      setBusy(room, m.path, null);
    }
  }
});

/**
 * Whether the room server has a model behind its LLM proxy. Asked at most once a minute: a
 * configured proxy forwards `GET /models` to the paid upstream, and every join greets.
 */
let modelCheck = { at: 0, answer: Promise.resolve(false) };
function modelConfigured() {
  if (Date.now() - modelCheck.at < 60_000) return modelCheck.answer;
  const answer = (async () => {
    const res = await fetch(`${LLM_BASE_URL}/models`, { headers: { authorization: `Bearer ${LLM_KEY}` } }).catch(() => null);
    if (res === null) return false;
    const body = await res.json().catch(() => ({}));
    return !(res.status === 503 && body?.error?.code === "llm_not_configured");
  })();
  modelCheck = { at: Date.now(), answer };
  return answer;
}

// Greet each person here, and each who joins later, once per session (this process lives one
// session) and to them alone: other agents (role agent or tool) are not greeted, and a
// broadcast would reach everyone again at every join. Say when no model is configured.
const greeted = new Set();
const greet = async (p) => {
  if (p === undefined || p.role === "agent" || p.role === "tool") return;
  const who = p.getAttribute("name") ?? p.id;
  if (greeted.has(who)) return;
  greeted.add(who);
  try {
    await room.messaging.sendMessage({ to: p, type: "chat", message: { text: `hello from ${process.env.MESHAGENT_ROOM}` } });
    if (!(await modelConfigured())) {
      await room.messaging.sendMessage({ to: p, type: "chat", message: { text: "No model is configured on this server (roomservice llm set --base-url URL --api-key-secret NAME), so I answer with a built-in responder that repeats what you say." } });
    }
  } catch (err) {
    console.log(`could not greet ${who}: ${err.message}`); // they left meanwhile
  }
};
const greetEveryone = () => {
  for (const p of room.messaging.remoteParticipants) void greet(p);
};
room.messaging.on("participant_added", (e) => void greet(room.messaging.remoteParticipants.find((p) => p.id === e.message.message?.id)));
// Who was here already is known once messaging is enabled (its answer lists them).
room.messaging.on("message", (e) => {
  if (e.message.type === "messaging.enabled") greetEveryone();
});
greetEveryone();
console.log("chat-agent connected to", process.env.MESHAGENT_ROOM, "session", process.env.MESHAGENT_SESSION_ID);
