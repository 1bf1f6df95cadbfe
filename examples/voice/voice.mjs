// A long-lived voice service. It joins the room with nothing but the environment Roomservice
// injects (MESHAGENT_ROOM_URL, MESHAGENT_ROOM, MESHAGENT_TOKEN), stays for the whole session,
// and offers the room a toolkit `voice`:
//   transcribe  audio in (stream of 16 kHz s16le mono PCM chunks, or a WAV stream)
//               → transcripts out (one JSON chunk per utterance, as soon as it ends)
//   speak       text in (text or {text} chunks) → audio out (PCM chunks, espeak-ng)
// It also takes part in the room chat (docs/chat.md, through @roomservice/agent-kit):
//   - a chat message in a thread it is a member of is spoken: the reply appended to the
//     thread carries the speech as a WAV attachment in room storage (voice/…wav), and the
//     author also gets it as a `voice.audio` message; a plain messaging chat starting with
//     "@voice" gets the `voice.audio` message only;
//   - transcripts are posted into the chat: into the thread named by a `thread` header on the
//     audio chunks (e.g. {"thread": ".threads/voice-alice.thread"}), and always as a
//     `chat {text, transcript: true, speaker}` broadcast.
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { advertiseChat, onThreadMessage, quietDocumentChangeLog, ThreadCache } from "@roomservice/agent-kit";

// The SDK logs every document change (thread messages included) with console.log: not in our service log.
quietDocumentChangeLog();
import { PCM, PCM_MIME, PCM_BYTES_PER_SECOND, AudioInput, toWav } from "./lib/pcm.mjs";
import { synthesize, voiceSettings } from "./lib/synth.mjs";
import { recognizerConfig, Recognizers } from "./lib/recognize.mjs";
import { StreamingToolkit } from "./lib/streaming-toolkit.mjs";

const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");

// Configuration errors stop the service at once, with the variable's name.
const voice = voiceSettings();
const recognizer = recognizerConfig();
/** Audio chunks `speak` sends: 200 ms each, small enough to start playing at once. */
const CHUNK_BYTES = PCM_BYTES_PER_SECOND / 5;
const log = (msg) => console.log(`[voice] ${msg}`);

const recognizers = new Recognizers(recognizer);
const room = new RoomClient();
let threads = null;
let toolkit = null;
// The stop handler is set before anything awaits: a stop that comes while connecting must
// still end with exit code 0 (without a handler Node dies of the SIGTERM: code 143).
let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  log("stopping");
  setTimeout(() => process.exit(0), 5000).unref();
  await toolkit?.stop().catch(() => undefined);
  await threads?.closeAll().catch(() => undefined);
  recognizers.close();
  try {
    room.dispose();
  } catch {
    // already closed by the server ending the session
  }
  process.exit(0);
});
await room.start();
// It answers in chat threads: clients offer a thread only with agents that say so.
advertiseChat(room, "Type, or press the microphone and speak");
room.messaging.enable();
threads = new ThreadCache(room);

/** Streams PCM for `text` through `output` in CHUNK_BYTES pieces; returns bytes sent. */
async function speakInto(text, output, seq = { n: 0 }) {
  let pending = Buffer.alloc(0);
  let sent = 0;
  const flush = async (final) => {
    while (pending.length >= CHUNK_BYTES || (final && pending.length > 0)) {
      const piece = pending.subarray(0, CHUNK_BYTES);
      pending = pending.subarray(piece.length);
      await output.file(piece, `speech-${String(seq.n++).padStart(5, "0")}.pcm`, PCM_MIME);
      sent += piece.length;
    }
  };
  for await (const pcm of synthesize(text, voice)) {
    pending = Buffer.concat([pending, pcm]);
    await flush(false);
  }
  await flush(true);
  return sent;
}

function textOf(chunk) {
  if (chunk.type === "text") return chunk.text;
  if (chunk.type === "json" && typeof chunk.json?.text === "string") return chunk.json.text;
  throw new Error(`speak: input chunks must be text or JSON {"text": string}, got a ${chunk.type} chunk`);
}

const tools = {
  transcribe: {
    title: "Transcribe",
    description:
      `Speech to text (${recognizer.kind}). Stream audio chunks (binary or file content) of raw ${PCM.encoding} PCM, ${PCM.sampleRate} Hz, mono — ` +
      "or a WAV stream (16-bit, any rate and channel count) — and receive one JSON chunk {text, utterance, backend} per utterance.",
    inputSpec: { types: ["file"], stream: true },
    outputSpec: { types: ["json"], stream: true },
    gather: (chunks) => ({ text: chunks.map((c) => c.text).join(" "), utterances: chunks }),
    async run(input, output, call) {
      let audio = null;
      let utterance = 0;
      let bytes = 0;
      /** The thread transcripts go to: the first chunk's `thread` header, if any. */
      let threadPath = null;
      const started = Date.now();
      const said = [];
      const speaker = call.caller.name ?? null;
      const rec = recognizers.start((text) => {
        const u = { text, utterance: utterance++, backend: rec.backend };
        said.push(output.json(u));
        // The chat sees every transcript, attributed to whoever was speaking.
        said.push(room.messaging.broadcastMessage({ type: "chat", message: { text, transcript: true, speaker } }));
        if (threadPath !== null) said.push(postTranscript(threadPath, speaker, text));
      });
      try {
        for await (const chunk of input) {
          if (chunk.type !== "binary" && chunk.type !== "file") throw new Error(`transcribe: input chunks must be audio (binary or file content), got a ${chunk.type} chunk`);
          const thread = chunk.headers?.thread;
          if (threadPath === null && thread !== undefined) {
            if (typeof thread !== "string" || !thread.endsWith(".thread")) throw new Error(`transcribe: the "thread" header must be a thread document path ending in .thread, got ${JSON.stringify(thread)}`);
            threadPath = thread;
          }
          audio ??= new AudioInput({ sampleRate: chunk.headers?.sample_rate, channels: chunk.headers?.channels });
          const pcm = audio.push(chunk.data ?? Buffer.alloc(0));
          bytes += pcm.length;
          await rec.write(pcm);
        }
        if (audio !== null) await rec.write(audio.flush());
        await rec.end();
        await Promise.all(said);
        log(`transcribed ${(bytes / PCM_BYTES_PER_SECOND).toFixed(2)} s of audio for ${call.caller.name} in ${Date.now() - started} ms (${utterance} utterances)`);
      } finally {
        rec.abort();
      }
    },
  },
  speak: {
    title: "Speak",
    description: `Text to speech (espeak-ng, voice ${voice.voice}). Send text (or {"text": ...}) chunks; receive audio as file chunks of ${PCM_MIME}, 200 ms each.`,
    inputSpec: { types: ["text", "json"], stream: true, schema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] } },
    outputSpec: { types: ["file"], stream: true },
    async run(input, output) {
      const seq = { n: 0 };
      for await (const chunk of input) await speakInto(textOf(chunk), output, seq);
    },
  },
};

toolkit = new StreamingToolkit(room, {
  name: "voice",
  title: "Voice",
  description: "speech synthesis (espeak-ng) and recognition (PocketSphinx or an OpenAI-compatible endpoint), offline",
  tools,
  log: { warn: log },
});
await toolkit.start();

/** Appends a transcript to a thread, as this service, naming the speaker; tells the thread's people. */
async function postTranscript(path, speaker, text) {
  try {
    const thread = await threads.get(path);
    const line = speaker === null ? text : `${speaker}: ${text}`;
    thread.appendMessage({ text: line });
    await thread.notifyMembers("chat", { text: line, transcript: true }, { agents: false });
  } catch (err) {
    log(`could not post a transcript to ${path}: ${err.message}`);
  }
}

/** Speech for `text` as one PCM buffer. */
async function speechOf(text) {
  const parts = [];
  await speakInto(text, { file: async (data) => void parts.push(Buffer.from(data)) });
  return Buffer.concat(parts);
}

/** Sends speech to one participant as a "voice.audio" message: PCM attached, the body says its format. */
function sendAudio(to, text, pcm) {
  return room.messaging.sendMessage({
    to,
    type: "voice.audio",
    message: { text, mime_type: PCM_MIME, encoding: PCM.encoding, sample_rate: PCM.sampleRate, channels: PCM.channels, duration_ms: Math.round((pcm.length / PCM_BYTES_PER_SECOND) * 1000) },
    attachment: pcm,
  });
}

// Plain messaging chat: speak what is addressed to us, back to whoever wrote it.
room.messaging.on("message", async (e) => {
  const m = e.message;
  if (m.type !== "chat" || m.fromParticipantId === room.localParticipant?.id) return;
  if (m.message?.transcript === true) return; // our own (or another voice service's) transcripts
  if (typeof m.message?.path === "string") return; // a thread's notice: onThreadMessage below
  const text = typeof m.message?.text === "string" ? m.message.text : "";
  // Messages carry no "to" on the wire (a direct message and a broadcast look the same), so
  // "addressed to us" means: starts with @voice.
  if (!/^@voice\b/i.test(text)) return;
  const to = room.messaging.getParticipant(m.fromParticipantId);
  if (to === null) return;
  try {
    const said = text.replace(/^@voice\b[:,]?\s*/i, "");
    await sendAudio(to, said, await speechOf(said));
  } catch (err) {
    log(`could not speak a chat message: ${err.message}`);
  }
});

// Thread chat (Studio's chat panel, MeshAgent's useChat): every message sent to us in a thread
// is addressed to us. The spoken reply goes into the thread as a message with the WAV attached.
onThreadMessage(room, async (m) => {
  if (m.path === null) return;
  if (m.type === "opened") {
    await threads.get(m.path);
    return;
  }
  if (m.type !== "chat") return;
  try {
    const thread = await threads.get(m.path);
    const author = m.from?.getAttribute("name");
    // Agents' reply notices are not addressed to us (and answering them could loop).
    if (thread.agentMemberNames().includes(author)) return;
    // The notice may overtake the message it announces: answer below it, not above.
    await thread.waitForMessage((x) => x.authorName === author && x.text === m.text, 5000);
    const said = m.text.replace(/^@voice\b[:,]?\s*/i, "").trim();
    if (said === "") return;
    const pcm = await speechOf(said);
    const file = `voice/speech-${randomUUID()}.wav`;
    await room.storage.upload(file, toWav(pcm));
    const reply = `🔊 ${said}`;
    thread.appendMessage({ text: reply, attachments: [file] });
    await thread.notifyMembers("chat", { text: reply }, { agents: false });
    if (m.from !== null) await sendAudio(m.from, said, pcm);
  } catch (err) {
    log(`could not speak a thread message in ${m.path}: ${err.message}`);
  }
});

log(`connected to room ${process.env.MESHAGENT_ROOM} (session ${process.env.MESHAGENT_SESSION_ID}); recognizer ${recognizer.kind}, voice ${voice.voice} at ${voice.rate} wpm`);

