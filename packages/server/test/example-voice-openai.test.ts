/**
 * The voice example's OpenAI-compatible transcription backend against a local server that
 * stands in for `/audio/transcriptions`: utterances are cut by the energy detector and sent
 * one by one as 16 kHz WAV files with the configured key and model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { pathToFileURL, fileURLToPath } from "node:url";

const lib = fileURLToPath(new URL("../../../examples/voice/lib/", import.meta.url));
// Plain .mjs without types: loaded dynamically so the typecheck does not need declarations.
const recognize: any = await import(pathToFileURL(`${lib}recognize.mjs`).href);

/** `seconds` of a 440 Hz tone at -12 dBFS, or of silence, as 16 kHz s16le. */
function pcm(seconds: number, tone: boolean): Buffer {
  const n = Math.round(seconds * 16000);
  const b = Buffer.alloc(n * 2);
  if (tone) for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
  return b;
}

test("OpenAI-compatible backend: one WAV per utterance, with the key and model; a refusal surfaces without the key", async (t) => {
  const seen: { auth: string | undefined; model: string; seconds: number; rate: number }[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const form = await new Request("http://x/", { method: "POST", headers: req.headers as Record<string, string>, body }).formData();
    const file = form.get("file") as File;
    const wav = Buffer.from(await file.arrayBuffer());
    const rate = wav.readUInt32LE(24);
    const seconds = (wav.length - 44) / (rate * 2);
    seen.push({ auth: req.headers.authorization, model: String(form.get("model")), seconds, rate });
    if (req.headers.authorization !== "Bearer sk-test") {
      res.writeHead(401, { "content-type": "application/json" }).end('{"error":"bad key"}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ text: `utterance of ${seconds.toFixed(1)} s` }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`;

  const config = recognize.recognizerConfig({ VOICE_TRANSCRIBE_URL: url, VOICE_TRANSCRIBE_API_KEY: "sk-test", VOICE_TRANSCRIBE_MODEL: "whisper-local" });
  assert.equal(config.kind, "openai");
  const heard: string[] = [];
  const rec = new recognize.Recognizers(config).start((text: string) => heard.push(text));
  // Two utterances (1.0 s and 0.6 s) separated by a second of silence, sent in 100 ms pieces.
  const audio = Buffer.concat([pcm(0.5, false), pcm(1.0, true), pcm(1.0, false), pcm(0.6, true), pcm(1.0, false)]);
  for (let off = 0; off < audio.length; off += 3200) await rec.write(audio.subarray(off, off + 3200));
  await rec.end();
  assert.equal(seen.length, 2, "one request per utterance");
  assert.ok(seen.every((s) => s.auth === "Bearer sk-test" && s.model === "whisper-local" && s.rate === 16000));
  // Each WAV holds its tone plus up to 600 ms of trailing silence (the end-of-utterance wait).
  assert.ok(seen[0].seconds >= 1.0 && seen[0].seconds <= 1.7, `first utterance ${seen[0].seconds} s`);
  assert.ok(seen[1].seconds >= 0.6 && seen[1].seconds <= 1.3, `second utterance ${seen[1].seconds} s`);
  assert.deepEqual(heard, seen.map((s) => `utterance of ${s.seconds.toFixed(1)} s`));

  const refused = new recognize.Recognizers(recognize.recognizerConfig({ VOICE_TRANSCRIBE_URL: url, VOICE_TRANSCRIBE_API_KEY: "sk-wrong" })).start(() => undefined);
  await refused.write(Buffer.concat([pcm(0.8, true), pcm(1.0, false)]));
  await assert.rejects(refused.end(), (err: Error) => /answered 401/.test(err.message) && !err.message.includes("sk-wrong"));

  assert.throws(() => recognize.recognizerConfig({ VOICE_TRANSCRIBE_URL: "ftp://x" }), /VOICE_TRANSCRIBE_URL: expected an http\(s\) base URL/);
});
