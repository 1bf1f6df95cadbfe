/**
 * Streaming conversion of microphone audio (Float32 samples in [-1, 1] at the AudioContext's
 * rate, typically 48000 or 44100 Hz) to what the `voice` toolkit's `transcribe` takes: 16 kHz
 * mono signed 16-bit PCM ("s16le", examples/voice/lib/pcm.mjs).
 *
 * Resampling is a windowed-sinc low-pass interpolator (Blackman window), the textbook
 * band-limited interpolation (J. O. Smith, "Digital Audio Resampling"): each output sample is
 * the input convolved with a sinc whose cut-off is 0.45 × the lower of the two rates, so
 * content above the output's Nyquist frequency (8 kHz) is filtered out instead of folding
 * back into the speech band as aliasing. Any rate ratio works (44100 → 16000 is 2.75625).
 * No dependencies and no DOM, so it runs in an AudioWorklet and under node:test.
 */

/** Zero crossings of the sinc on each side of the centre: ~60 dB stop-band with Blackman. */
const ZERO_CROSSINGS = 16;
/** Kernel table entries per input sample (linear interpolation between them). */
const TABLE_RES = 256;

export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Input samples per output sample. */
  private readonly step: number;
  /** Normalised cut-off (fraction of the input rate, times 2): the sinc's bandwidth. */
  private readonly cutoff: number;
  /** Half-width of the kernel in input samples. */
  private readonly half: number;
  /** The kernel at distances 0, 1/TABLE_RES, … half (it is symmetric), plus a zero. */
  private readonly table: Float64Array;
  /** Pending input; `buf[0]` is input sample number `bufStart`. */
  private buf = new Float32Array(0);
  private bufStart = 0;
  /** Number of the next output sample. */
  private nextOut = 0;

  /** Throws for rates that are not positive finite numbers. */
  constructor(inRate: number, outRate = 16000) {
    if (!(inRate > 0 && Number.isFinite(inRate))) throw new Error(`Resampler: input rate must be a positive number of Hz, got ${inRate}`);
    if (!(outRate > 0 && Number.isFinite(outRate))) throw new Error(`Resampler: output rate must be a positive number of Hz, got ${outRate}`);
    this.inRate = inRate;
    this.outRate = outRate;
    this.step = inRate / outRate;
    this.cutoff = (0.9 * Math.min(inRate, outRate)) / inRate;
    this.half = Math.ceil(ZERO_CROSSINGS / this.cutoff);
    // Tabulated once: the audio thread must not spend ~5 million sin/cos a second.
    this.table = new Float64Array(this.half * TABLE_RES + 2);
    for (let j = 0; j <= this.half * TABLE_RES; j++) {
      const d = j / TABLE_RES;
      const x = this.cutoff * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = 0.42 + 0.5 * Math.cos((Math.PI * d) / this.half) + 0.08 * Math.cos((2 * Math.PI * d) / this.half);
      this.table[j] = this.cutoff * sinc * w;
    }
  }

  /** Kernel weight at distance `d` input samples from the output instant (0 beyond `half`). */
  private kernel(d: number): number {
    const p = Math.abs(d) * TABLE_RES;
    const j = Math.floor(p);
    if (j >= this.half * TABLE_RES) return 0;
    const f = p - j;
    return this.table[j] * (1 - f) + this.table[j + 1] * f;
  }

  /**
   * Takes the next input samples and returns every output sample they complete, as s16le
   * values (clipped to ±32767). Output lags input by the kernel's half-width (~1 ms).
   */
  push(input: Float32Array): Int16Array {
    if (this.inRate === this.outRate) return toInt16(input);
    const joined = new Float32Array(this.buf.length + input.length);
    joined.set(this.buf);
    joined.set(input, this.buf.length);
    this.buf = joined;
    const end = this.bufStart + this.buf.length; // one past the last input sample we hold
    const out: number[] = [];
    for (;;) {
      const t = this.nextOut * this.step; // output instant in input-sample units
      const hi = Math.floor(t) + this.half;
      if (hi >= end) break;
      let acc = 0;
      // Samples before the stream started count as silence.
      for (let k = Math.max(Math.floor(t - this.half) + 1, 0); k <= hi; k++) {
        const i = k - this.bufStart;
        if (i >= 0) acc += this.buf[i] * this.kernel(t - k);
      }
      out.push(acc);
      this.nextOut++;
    }
    // Keep only what the next output sample can still reach.
    const keepFrom = Math.max(Math.floor(this.nextOut * this.step - this.half) + 1, this.bufStart);
    this.buf = this.buf.slice(keepFrom - this.bufStart);
    this.bufStart = keepFrom;
    return toInt16(out);
  }
}

/** Float samples in [-1, 1] to s16 values, clipped. */
export function toInt16(samples: ArrayLike<number>): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]));
    out[i] = Math.round(v * 32767);
  }
  return out;
}

/**
 * Little-endian bytes of s16 samples, whatever the platform's byte order (the wire format is
 * s16le; typed arrays use the host's order).
 */
export function s16leBytes(samples: Int16Array): Uint8Array {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i], true);
  return bytes;
}
