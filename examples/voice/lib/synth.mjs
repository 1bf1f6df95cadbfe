// Speech synthesis with espeak-ng (Debian package `espeak-ng`): text in, 16 kHz PCM out,
// streamed as espeak-ng produces it.
import { spawn } from "node:child_process";
import { PcmConverter, parseWavHeader } from "./pcm.mjs";

/** Longest text one `speak` call (or one input chunk) accepts, in characters. */
export const MAX_TEXT_CHARS = 5000;

/**
 * Voice settings. The defaults (voice en-us+adam at 170 words per minute) are the ones
 * PocketSphinx's US English model understood best in the sweep in docs/benchmarks.md:
 * espeak-ng's formant voices are far from the natural speech that model was trained on.
 * Override with VOICE_ESPEAK_VOICE, VOICE_ESPEAK_RATE (words per minute) and
 * VOICE_ESPEAK_PITCH (0-99).
 */
export function voiceSettings(env = process.env) {
  const int = (name, def, min, max) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const voice = env.VOICE_ESPEAK_VOICE || "en-us+adam";
  if (!/^[A-Za-z0-9_+-]{1,64}$/.test(voice)) throw new Error(`VOICE_ESPEAK_VOICE: expected a voice name such as "en-us" or "en-us+m3", got ${JSON.stringify(voice)}`);
  return { voice, rate: int("VOICE_ESPEAK_RATE", 170, 80, 450), pitch: int("VOICE_ESPEAK_PITCH", 50, 0, 99) };
}

/**
 * Synthesizes `text`; yields s16le 16 kHz mono Buffers as espeak-ng writes its WAV. The text
 * goes through stdin (never argv), so nothing in it can be taken for an option. Aborting
 * `signal` kills espeak-ng.
 */
export async function* synthesize(text, settings, signal) {
  if (typeof text !== "string" || text.trim() === "") throw new Error("speak: text must be a non-empty string");
  if (text.length > MAX_TEXT_CHARS) throw new Error(`speak: text is ${text.length} characters long; the limit is ${MAX_TEXT_CHARS} (split it into several chunks)`);
  const child = spawn("espeak-ng", ["--stdout", "--stdin", "-v", settings.voice, "-s", String(settings.rate), "-p", String(settings.pitch)], {
    stdio: ["pipe", "pipe", "pipe"],
    signal,
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
  const exited = new Promise((resolve) => {
    child.on("error", (err) => resolve({ code: null, err }));
    child.on("close", (code) => resolve({ code, err: null }));
  });
  child.stdin.on("error", () => undefined); // espeak-ng exiting early surfaces through `exited`
  child.stdin.end(text);
  let head = Buffer.alloc(0);
  let converter = null;
  try {
    for await (const chunk of child.stdout) {
      if (converter === null) {
        head = Buffer.concat([head, chunk]);
        const h = parseWavHeader(head);
        if (h === null) continue;
        converter = new PcmConverter(h.sampleRate, h.channels);
        const out = converter.push(head.subarray(h.dataOffset));
        if (out.length > 0) yield out;
      } else {
        const out = converter.push(chunk);
        if (out.length > 0) yield out;
      }
    }
    const r = await exited;
    if (r.err !== null) {
      if (r.err.name === "AbortError") return;
      throw new Error(r.err.code === "ENOENT" ? "espeak-ng is not installed in this image (Debian package espeak-ng)" : `espeak-ng: ${r.err.message}`);
    }
    if (r.code !== 0) throw new Error(`espeak-ng exited with ${r.code}: ${stderr.trim()}`);
    if (converter !== null) {
      const tail = converter.flush();
      if (tail.length > 0) yield tail;
    }
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}
