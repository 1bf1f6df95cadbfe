// Audio plumbing with no dependencies: the wire format, WAV headers, mixing down and
// resampling. Everything the service exchanges is 16-bit signed little-endian PCM, mono,
// 16 kHz ("s16le") — the rate PocketSphinx's US English model was trained at.

/** The one audio format on the wire, in both directions. */
export const PCM = Object.freeze({ encoding: "s16le", sampleRate: 16000, channels: 1 });
/** MIME type of the audio chunks `speak` streams (and `transcribe` accepts). */
export const PCM_MIME = `audio/pcm;encoding=${PCM.encoding};rate=${PCM.sampleRate};channels=${PCM.channels}`;
/** Bytes per second of PCM audio: 16000 samples × 2 bytes. */
export const PCM_BYTES_PER_SECOND = PCM.sampleRate * 2 * PCM.channels;

/** A 44-byte canonical WAV header for `dataBytes` of s16le PCM. */
export function wavHeader(dataBytes, sampleRate = PCM.sampleRate, channels = PCM.channels) {
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write("WAVE", 8, "ascii");
  h.write("fmt ", 12, "ascii");
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28); // byte rate
  h.writeUInt16LE(channels * 2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write("data", 36, "ascii");
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** WAV file from s16le PCM. */
export function toWav(pcm, sampleRate = PCM.sampleRate, channels = PCM.channels) {
  return Buffer.concat([wavHeader(pcm.length, sampleRate, channels), pcm]);
}

export function isWav(buf) {
  return buf.length >= 12 && buf.toString("ascii", 0, 4) === "RIFF" && buf.toString("ascii", 8, 12) === "WAVE";
}

/**
 * Parses a RIFF/WAVE header (chunks in any order, "LIST" and others skipped). Returns null
 * when more bytes are needed, the format and where the samples start otherwise; throws with
 * what is wrong for anything that is not 16-bit integer PCM. Streams written by programs
 * (espeak-ng --stdout) carry a placeholder data size: the samples simply run to the end.
 */
export function parseWavHeader(buf) {
  if (buf.length < 12) return null;
  if (!isWav(buf)) throw new Error(`not a WAV stream (expected "RIFF....WAVE", got ${JSON.stringify(buf.toString("latin1", 0, 12))})`);
  let off = 12;
  let fmt = null;
  while (off + 8 <= buf.length) {
    const id = buf.toString("ascii", off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === "data") {
      if (fmt === null) throw new Error('WAV "data" chunk before its "fmt " chunk');
      return { ...fmt, dataOffset: off + 8 };
    }
    if (off + 8 + size > buf.length) return null;
    if (id === "fmt ") {
      const format = buf.readUInt16LE(off + 8);
      const channels = buf.readUInt16LE(off + 10);
      const sampleRate = buf.readUInt32LE(off + 12);
      const bits = buf.readUInt16LE(off + 22);
      // 0xFFFE is WAVE_FORMAT_EXTENSIBLE; its sub-format is PCM for every 16-bit writer we know.
      if ((format !== 1 && format !== 0xfffe) || bits !== 16) {
        throw new Error(`WAV audio must be 16-bit integer PCM (expected format 1, 16 bits; got format ${format}, ${bits} bits)`);
      }
      if (channels < 1 || channels > 8) throw new Error(`WAV channels: expected 1 to 8, got ${channels}`);
      if (sampleRate < 4000 || sampleRate > 192000) throw new Error(`WAV sample rate: expected 4000 to 192000 Hz, got ${sampleRate}`);
      fmt = { channels, sampleRate };
    }
    off += 8 + size + (size & 1); // chunks are padded to even sizes
    if (off > 1 << 20) throw new Error("WAV header longer than 1 MiB before the data chunk");
  }
  return null;
}

/**
 * Streaming converter from interleaved s16le at any rate/channel count to {@link PCM}:
 * channels are averaged, then a windowed-sinc low-pass resampler (Blackman window, cut-off
 * just below the lower Nyquist frequency) interpolates the new rate. Feed it byte chunks of
 * any size (odd bytes and partial frames are carried over); it returns s16le Buffers.
 */
export class PcmConverter {
  constructor(sampleRate, channels) {
    this.inRate = sampleRate;
    this.channels = channels;
    this.carry = Buffer.alloc(0);
    this.identity = sampleRate === PCM.sampleRate && channels === 1;
    this.step = sampleRate / PCM.sampleRate; // input samples per output sample
    this.cutoff = Math.min(1, 1 / this.step) * 0.9; // fraction of the input Nyquist
    this.half = Math.ceil(12 / this.cutoff); // window half-width in input samples
    this.buf = new Float32Array(0); // mono input not yet consumed
    this.bufStart = 0; // absolute index of buf[0]
    this.next = 0; // absolute input position of the next output sample
  }

  /** Converts a chunk; returns what can be produced so far. */
  push(chunk) {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const frame = 2 * this.channels;
    const usable = data.length - (data.length % frame);
    this.carry = Buffer.from(data.subarray(usable));
    if (this.identity) return Buffer.from(data.subarray(0, usable));
    const frames = usable / frame;
    const mono = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      let s = 0;
      for (let c = 0; c < this.channels; c++) s += data.readInt16LE(i * frame + c * 2);
      mono[i] = s / this.channels;
    }
    const merged = new Float32Array(this.buf.length + mono.length);
    merged.set(this.buf);
    merged.set(mono, this.buf.length);
    this.buf = merged;
    return this.drain(false);
  }

  /** Everything left, padding the end with silence. */
  flush() {
    if (this.identity) return Buffer.alloc(0);
    return this.drain(true);
  }

  drain(final) {
    const end = this.bufStart + this.buf.length;
    const out = [];
    while (final ? this.next < end : this.next + this.half < end) {
      out.push(this.sampleAt(this.next));
      this.next += this.step;
    }
    // Keep only the input the next output samples still reach back to.
    const keepFrom = Math.max(this.bufStart, Math.floor(this.next) - this.half);
    this.buf = this.buf.slice(keepFrom - this.bufStart);
    this.bufStart = keepFrom;
    const b = Buffer.alloc(out.length * 2);
    for (let i = 0; i < out.length; i++) b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(out[i]))), i * 2);
    return b;
  }

  sampleAt(t) {
    const from = Math.ceil(t - this.half);
    const to = Math.floor(t + this.half);
    let acc = 0;
    for (let k = from; k <= to; k++) {
      const i = k - this.bufStart;
      if (i < 0 || i >= this.buf.length) continue; // outside the signal: silence
      const d = t - k;
      const x = this.cutoff * d;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const w = 0.42 + 0.5 * Math.cos((Math.PI * d) / this.half) + 0.08 * Math.cos((2 * Math.PI * d) / this.half);
      acc += this.buf[i] * this.cutoff * sinc * w;
    }
    return acc;
  }
}

/**
 * Turns an incoming byte stream into {@link PCM}: a WAV stream (detected by its RIFF header,
 * any rate and channel count) or raw s16le at a declared rate (default 16 kHz mono).
 */
export class AudioInput {
  constructor(declared = {}) {
    this.declared = { sampleRate: declared.sampleRate ?? PCM.sampleRate, channels: declared.channels ?? PCM.channels };
    this.head = Buffer.alloc(0);
    this.converter = null;
    this.format = null;
  }

  /** PCM ready so far (possibly empty). Throws on a malformed WAV header. */
  push(chunk) {
    if (this.converter !== null) return this.converter.push(chunk);
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < 12 && this.head.toString("ascii", 0, Math.min(4, this.head.length)) === "RIFF".slice(0, Math.min(4, this.head.length))) return Buffer.alloc(0);
    let start = 0;
    if (isWav(this.head)) {
      const h = parseWavHeader(this.head);
      if (h === null) return Buffer.alloc(0);
      this.format = { container: "wav", sampleRate: h.sampleRate, channels: h.channels };
      start = h.dataOffset;
    } else this.format = { container: "raw", ...this.declared };
    this.converter = new PcmConverter(this.format.sampleRate, this.format.channels);
    const rest = this.head.subarray(start);
    this.head = Buffer.alloc(0);
    return this.converter.push(rest);
  }

  flush() {
    return this.converter === null ? Buffer.alloc(0) : this.converter.flush();
  }
}
