// A secure integration: answers "look up <company>" in the room chat by calling a CRM's HTTP
// API with a key that reaches this service only, as a secret file (/run/secrets/CRM_API_KEY).
// The key is never logged, never sent to the room, never in env (secrets.env: false).
// Answers go where the question was asked: into the thread document (docs/chat.md, through
// @roomservice/agent-kit, as Studio's chat and MeshAgent's useChat send them), or as a plain
// messaging reply to a plain messaging `chat`.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { advertiseChat, onThreadMessage, quietDocumentChangeLog, setBusy, ThreadCache } from "@roomservice/agent-kit";

// The SDK logs every document change (thread messages included) with console.log: not in our service log.
quietDocumentChangeLog();
const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");

const CRM_BASE_URL = (process.env.CRM_BASE_URL ?? "http://127.0.0.1:9100").replace(/\/+$/, "");
const KEY_FILE = process.env.CRM_API_KEY_FILE ?? "/run/secrets/CRM_API_KEY";

/** Read at each call, so a secret rotated by the operator applies at the next session. */
function apiKey() {
  try {
    return readFileSync(KEY_FILE, "utf8").trim();
  } catch {
    return null;
  }
}

/** "look up ACME", "lookup acme corp", "find Globex" → the company name, or null. */
export function parseRequest(text) {
  const m = /^\s*(?:look\s*up|lookup|find|crm)\s+(.+?)\s*[?.!]*\s*$/i.exec(text ?? "");
  return m ? m[1] : null;
}

async function lookUp(name) {
  const key = apiKey();
  if (key === null) return `I have no CRM key: the operator must set the secret (roomservice secret set crm-api-key).`;
  let res;
  try {
    res = await fetch(`${CRM_BASE_URL}/companies?q=${encodeURIComponent(name)}`, {
      headers: { authorization: `Bearer ${key}`, accept: "application/json" },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    console.error(`CRM unreachable at ${CRM_BASE_URL}: ${err.message}`);
    return `The CRM at ${CRM_BASE_URL} did not answer (${err.message}).`;
  }
  console.log(`looked up ${JSON.stringify(name)}: HTTP ${res.status}`);
  if (res.status === 401 || res.status === 403) return `The CRM refused our key (HTTP ${res.status}); ask the operator to rotate the crm-api-key secret.`;
  if (!res.ok) return `The CRM answered HTTP ${res.status}.`;
  const { companies } = await res.json();
  if (!Array.isArray(companies) || companies.length === 0) return `No company matching "${name}" in the CRM.`;
  return companies
    .map((c) => `${c.name} (${c.industry}) — owner ${c.owner}; ${c.open_deals} open deal(s) worth $${c.pipeline_usd.toLocaleString("en-US")}`)
    .join("\n");
}

const room = new RoomClient();
// Readiness that means "joined the room": the manifest's readiness probe asks GET /ready on
// READY_PORT, answered 200 only once this agent is connected with messaging on. Without it a
// service with no ports counts as ready a second after its process starts, long before a cold
// agent has joined, and the first chat message of a session goes to nobody.
let joined = false;
createServer((req, res) => res.writeHead(joined ? 200 : 503).end(joined ? "joined" : "joining"))
  .listen(Number(process.env.READY_PORT ?? 9202), "127.0.0.1");
let threads = null;
// The stop handler is set before anything awaits: a stop that comes while connecting must
// still end with exit code 0 (without a handler Node dies of the SIGTERM: code 143).
process.on("SIGTERM", async () => {
  setTimeout(() => process.exit(0), 3000).unref();
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
advertiseChat(room, "Ask me about a CRM account");
room.messaging.enable();
threads = new ThreadCache(room);
// Joined once the server has enabled messaging for us (others have been told we are here).
room.messaging.on("message", (e) => {
  if (e.message.type === "messaging.enabled") joined = true;
});

/** The answer to one chat text: a look-up, or how to ask for one. */
const answer = (text) => {
  const name = parseRequest(text);
  return name === null ? `Ask me "look up <company>".` : lookUp(name);
};

onThreadMessage(room, async (m) => {
  if (m.path === null) {
    // Plain messaging: a broadcast and a direct message look the same on the wire, so only
    // look-ups get an answer — in a room with other agents, "hello" to everyone is not for us.
    if (m.type !== "chat" || m.from === null || parseRequest(m.text) === null) return;
    await room.messaging.sendMessage({ to: m.from, type: "chat", message: { text: await answer(m.text) } });
    return;
  }
  if (m.type === "opened") {
    await threads.get(m.path);
    return;
  }
  if (m.type !== "chat") return;
  const thread = await threads.get(m.path);
  // The notice may overtake the message it announces: answer below it, not above.
  const author = m.from?.getAttribute("name");
  await thread.waitForMessage((x) => x.authorName === author && x.text === m.text, 5000);
  setBusy(room, m.path, "Looking it up in the CRM");
  try {
    const text = await answer(m.text);
    thread.appendMessage({ text });
    await thread.notifyMembers("chat", { text }, { agents: false });
  } finally {
    setBusy(room, m.path, null);
  }
});
console.log(`crm-sync ready in room ${process.env.MESHAGENT_ROOM}; CRM at ${CRM_BASE_URL}`);
