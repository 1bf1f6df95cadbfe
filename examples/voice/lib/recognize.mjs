// Speech recognition backends. Both take 16 kHz s16le mono PCM pushed as it arrives and call
// `onUtterance(text)` once per utterance (a stretch of speech followed by silence):
//  - PocketSphinx (Debian packages pocketsphinx + pocketsphinx-en-us, 0.8+5prealpha in
//    bookworm: no `pocketsphinx` 5.x CLI, but `pocketsphinx_continuous`): one
//    `pocketsphinx_continuous -infile /dev/stdin` per stream. It detects
//    utterances itself (voice activity detection) and prints each hypothesis on its own line
//    as soon as the utterance ends, so transcripts stream while audio still arrives.
//  - Any OpenAI-compatible `POST {base}/audio/transcriptions` (multipart: file, model), when
//    VOICE_TRANSCRIBE_URL is set. Utterances are cut here by a simple energy detector and
//    sent one by one as WAV files.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { PCM, PCM_BYTES_PER_SECOND, toWav } from "./pcm.mjs";

/** Which backend `transcribe` uses, from the environment; throws on a malformed value. */
export function recognizerConfig(env = process.env) {
  const url = env.VOICE_TRANSCRIBE_URL?.trim();
  if (url) {
    if (!/^https?:\/\//.test(url)) throw new Error(`VOICE_TRANSCRIBE_URL: expected an http(s) base URL such as https://api.openai.com/v1, got ${JSON.stringify(url)}`);
    return {
      kind: "openai",
      url: url.replace(/\/+$/, ""),
      model: env.VOICE_TRANSCRIBE_MODEL || "whisper-1",
      apiKey: env.VOICE_TRANSCRIBE_API_KEY || "",
      language: env.VOICE_TRANSCRIBE_LANGUAGE || "en",
    };
  }
  return { kind: "pocketsphinx", args: (env.VOICE_POCKETSPHINX_ARGS ?? "").split(/\s+/).filter(Boolean) };
}

/**
 * Hands out one recognizer per `transcribe` call. For PocketSphinx it keeps one process
 * started ahead, its model already loaded (~1.7 s of CPU, most of a short call's time), waiting
 * on its input; each call takes it and a new spare starts loading.
 */
export class Recognizers {
  constructor(config, fetchImpl = fetch) {
    this.config = config;
    this.fetch = fetchImpl;
    this.spare = null;
    this.closed = false;
    this.warm();
  }

  warm() {
    if (this.config.kind !== "pocketsphinx" || this.spare !== null || this.closed) return;
    const spare = new PocketSphinxRecognizer(this.config);
    this.spare = spare;
    void spare.exited.then(() => {
      if (this.spare === spare) this.spare = null; // died while waiting: the next call starts afresh
    });
  }

  /** A recognizer for one stream; `onUtterance(text)` per utterance. */
  start(onUtterance) {
    if (this.config.kind === "openai") return new OpenAIRecognizer(this.config, onUtterance, this.fetch);
    const r = this.spare ?? new PocketSphinxRecognizer(this.config);
    this.spare = null;
    r.onUtterance = onUtterance;
    this.warm();
    return r;
  }

  close() {
    this.closed = true;
    this.spare?.abort();
    this.spare = null;
  }
}

/** PocketSphinx on a pipe: `write` applies the pipe's backpressure, `end` waits for the last words. */
export class PocketSphinxRecognizer {
  constructor(config, onUtterance = () => undefined) {
    this.backend = "pocketsphinx";
    this.onUtterance = onUtterance;
    // Node hands a child its stdin as a socket, which pocketsphinx cannot fopen("/dev/stdin")
    // (ENXIO); `cat |` gives it a real pipe. Its own process group, so abort() ends both.
    this.child = spawn("sh", ["-c", 'cat | exec pocketsphinx_continuous "$@"', "sh", "-infile", "/dev/stdin", "-samprate", String(PCM.sampleRate), ...config.args], {
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    this.stderr = "";
    this.failure = null;
    // Its log goes to stderr; only the tail is kept, to explain a failure.
    this.child.stderr.on("data", (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.child.stdin.on("error", () => undefined); // reported through `exited`
    let partial = "";
    this.child.stdout.on("data", (d) => {
      partial += d.toString("utf8");
      const lines = partial.split("\n");
      partial = lines.pop();
      for (const l of lines) if (l.trim() !== "") this.onUtterance(l.trim());
    });
    this.exited = new Promise((resolve) => {
      this.child.on("error", (err) => {
        this.failure = err.code === "ENOENT" ? new Error("sh is not in this image") : err;
        resolve(null);
      });
      this.child.on("close", (code) => {
        if (partial.trim() !== "") this.onUtterance(partial.trim());
        if (code !== 0 && this.failure === null) {
          const errors = this.stderr.split("\n").filter((l) => /ERROR|FATAL/.test(l)).slice(-3).join("; ");
          this.failure = new Error(`pocketsphinx_continuous exited with ${code}: ${errors || this.stderr.trim().split("\n").slice(-3).join("; ")}`);
        }
        resolve(code);
      });
    });
  }

  async write(pcm) {
    if (this.failure !== null) throw this.failure;
    if (pcm.length === 0) return;
    if (!this.child.stdin.write(pcm)) await Promise.race([once(this.child.stdin, "drain"), this.exited]);
  }

  /** Ends the audio; resolves after the last utterance was reported. */
  async end() {
    // A second of silence lets the detector close an utterance the caller cut off mid-word.
    this.child.stdin.end(Buffer.alloc(PCM_BYTES_PER_SECOND));
    await this.exited;
    if (this.failure !== null) throw this.failure;
  }

  abort() {
    if (this.child.exitCode !== null || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Frames of 20 ms; an utterance ends after 600 ms below the speech threshold. */
const FRAME_BYTES = (PCM_BYTES_PER_SECOND * 20) / 1000;
const END_SILENCE_FRAMES = 30;
const MAX_UTTERANCE_BYTES = PCM_BYTES_PER_SECOND * 30;

/**
 * An OpenAI-compatible transcription endpoint, one request per utterance, in order. The
 * utterance detector tracks the noise floor and calls a frame speech when it is 12 dB above
 * it (and above -50 dBFS), which is enough for a microphone in a quiet room.
 */
export class OpenAIRecognizer {
  constructor(config, onUtterance, fetchImpl) {
    this.backend = "openai";
    this.config = config;
    this.onUtterance = onUtterance;
    this.fetch = fetchImpl;
    this.pending = Buffer.alloc(0);
    this.utterance = [];
    this.utteranceBytes = 0;
    this.silentFrames = 0;
    this.noiseDb = -60;
    this.queue = Promise.resolve();
    this.failure = null;
    this.abortController = new AbortController();
  }

  async write(pcm) {
    if (this.failure !== null) throw this.failure;
    this.pending = Buffer.concat([this.pending, pcm]);
    while (this.pending.length >= FRAME_BYTES) {
      const frame = this.pending.subarray(0, FRAME_BYTES);
      this.pending = this.pending.subarray(FRAME_BYTES);
      this.frame(Buffer.from(frame));
    }
  }

  frame(frame) {
    let sum = 0;
    for (let i = 0; i < frame.length; i += 2) sum += frame.readInt16LE(i) ** 2;
    const db = 10 * Math.log10(sum / (frame.length / 2) / 32768 ** 2 + 1e-12);
    const speech = db > Math.max(this.noiseDb + 12, -50);
    if (!speech) this.noiseDb = 0.95 * this.noiseDb + 0.05 * db;
    if (speech || this.utterance.length > 0) {
      this.utterance.push(frame);
      this.utteranceBytes += frame.length;
      this.silentFrames = speech ? 0 : this.silentFrames + 1;
      if (this.silentFrames >= END_SILENCE_FRAMES || this.utteranceBytes >= MAX_UTTERANCE_BYTES) this.cut();
    }
  }

  cut() {
    const audio = Buffer.concat(this.utterance);
    this.utterance = [];
    this.utteranceBytes = 0;
    this.silentFrames = 0;
    if (audio.length < PCM_BYTES_PER_SECOND / 10) return; // a click, not speech
    this.queue = this.queue.then(() => this.send(audio)).catch((err) => {
      this.failure ??= err;
    });
  }

  async send(pcm) {
    const form = new FormData();
    form.append("file", new Blob([toWav(pcm)], { type: "audio/wav" }), "utterance.wav");
    form.append("model", this.config.model);
    form.append("language", this.config.language);
    form.append("response_format", "json");
    const headers = this.config.apiKey ? { authorization: `Bearer ${this.config.apiKey}` } : {};
    const url = `${this.config.url}/audio/transcriptions`;
    const res = await this.fetch(url, { method: "POST", body: form, headers, signal: this.abortController.signal });
    const body = await res.text();
    // Never echo the request (it carries the key); the status and the answer say enough.
    if (!res.ok) throw new Error(`${url} answered ${res.status}: ${body.slice(0, 300)}`);
    let text;
    try {
      text = JSON.parse(body).text;
    } catch {
      throw new Error(`${url} answered with something that is not JSON: ${body.slice(0, 120)}`);
    }
    if (typeof text !== "string") throw new Error(`${url}: expected {"text": string}, got ${body.slice(0, 120)}`);
    if (text.trim() !== "") this.onUtterance(text.trim());
  }

  async end() {
    if (this.utterance.length > 0) this.cut();
    await this.queue;
    if (this.failure !== null) throw this.failure;
  }

  abort() {
    this.abortController.abort();
  }
}
