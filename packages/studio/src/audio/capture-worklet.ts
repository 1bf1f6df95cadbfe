/**
 * AudioWorklet processor "pcm16k-capture": takes the microphone's first channel at the
 * context's rate, resamples it to 16 kHz s16 (resample.ts) and posts it to the page every
 * ~100 ms as a transferred ArrayBuffer of little-endian bytes. Loaded by microphone.ts through
 * Vite's `?worker&url` (a bundled file under /assets/, allowed by Studio's `script-src 'self'`
 * where a blob: URL would not be).
 */
import { Resampler, s16leBytes } from "./resample.ts";

// The AudioWorkletGlobalScope's names (not in TypeScript's DOM library).
declare const sampleRate: number;
declare function registerProcessor(name: string, ctor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

/** Output samples per message: 100 ms at 16 kHz. */
const CHUNK_SAMPLES = 1600;

/** One channel: the only one, or the average of all (a stereo microphone). */
function mixDown(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0];
  const mono = new Float32Array(channels[0].length);
  for (const c of channels) for (let i = 0; i < mono.length; i++) mono[i] += c[i] / channels.length;
  return mono;
}

class Pcm16kCapture extends AudioWorkletProcessor {
  private readonly resampler = new Resampler(sampleRate, 16000);
  private pending = new Int16Array(CHUNK_SAMPLES);
  private filled = 0;
  private stopped = false;

  constructor() {
    super();
    // "flush" sends what is pending and stops; the page then closes the context.
    this.port.onmessage = (e: MessageEvent) => {
      if (e.data !== "flush") return;
      this.send();
      this.stopped = true;
      this.port.postMessage({ done: true });
    };
  }

  private send(): void {
    if (this.filled === 0) return;
    const bytes = s16leBytes(this.pending.subarray(0, this.filled));
    this.port.postMessage({ pcm: bytes.buffer }, [bytes.buffer]);
    this.pending = new Int16Array(CHUNK_SAMPLES);
    this.filled = 0;
  }

  process(inputs: Float32Array[][]): boolean {
    if (this.stopped) return false;
    const channels = inputs[0] ?? [];
    // No input connected yet (or the track ended): keep the node alive.
    if (channels.length === 0) return true;
    const out = this.resampler.push(mixDown(channels));
    let off = 0;
    while (off < out.length) {
      const n = Math.min(out.length - off, CHUNK_SAMPLES - this.filled);
      this.pending.set(out.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === CHUNK_SAMPLES) this.send();
    }
    return true;
  }
}

registerProcessor("pcm16k-capture", Pcm16kCapture);
