/**
 * The microphone's resampler (src/audio/resample.ts): speech-band tones keep their frequency
 * and level through 48000 → 16000 and 44100 → 16000, content above 8 kHz is filtered out
 * rather than aliased into the speech band, the output length matches the rate ratio however
 * the input is chunked, and samples leave as little-endian s16.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Resampler, s16leBytes, toInt16 } from "../src/audio/resample.ts";

function tone(hz: number, rate: number, seconds: number, amp = 0.5): Float32Array {
  const n = Math.round(rate * seconds);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * hz * i) / rate);
  return x;
}

/** Runs `input` through a resampler in chunks of `chunk` samples (as an AudioWorklet would: 128). */
function run(input: Float32Array, inRate: number, chunk: number): Int16Array {
  const r = new Resampler(inRate, 16000);
  const parts: Int16Array[] = [];
  for (let off = 0; off < input.length; off += chunk) parts.push(r.push(input.subarray(off, off + chunk)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Amplitude of the `hz` component of `x` (16 kHz), by correlation (a one-bin DFT). */
function level(x: Int16Array, hz: number, from = 1000): number {
  let re = 0;
  let im = 0;
  const n = x.length - from;
  for (let i = from; i < x.length; i++) {
    const v = x[i] / 32767;
    re += v * Math.cos((2 * Math.PI * hz * i) / 16000);
    im += v * Math.sin((2 * Math.PI * hz * i) / 16000);
  }
  return (2 * Math.hypot(re, im)) / n;
}

for (const inRate of [48000, 44100]) {
  test(`resampler ${inRate} → 16000: a 1 kHz tone keeps its level, whatever the chunking`, () => {
    const x = tone(1000, inRate, 1);
    for (const chunk of [128, 441, 100000]) {
      const y = run(x, inRate, chunk);
      // All but the kernel's half-width of output (the filter's delay) has come out.
      assert.ok(y.length <= 16000 && y.length >= 16000 - 25, `${chunk}-sample chunks: ${y.length} output samples for 1 s`);
      const a = level(y, 1000);
      assert.ok(Math.abs(a - 0.5) < 0.01, `${chunk}-sample chunks: 1 kHz at amplitude ${a.toFixed(4)}, expected 0.5`);
    }
  });

  test(`resampler ${inRate} → 16000: a 12 kHz tone is filtered out, not aliased to 4 kHz`, () => {
    const y = run(tone(12000, inRate, 1), inRate, 128);
    // Decimating without a low-pass would fold 12 kHz onto 16000 − 12000 = 4 kHz at full level.
    const alias = level(y, 16000 - 12000);
    assert.ok(alias < 0.005, `4 kHz alias at amplitude ${alias.toFixed(5)} (the input had 0.5)`);
  });
}

test("resampler: same rates pass through; s16 conversion clips and is little-endian", () => {
  const r = new Resampler(16000, 16000);
  assert.deepEqual([...r.push(Float32Array.from([0, 0.5, -1, 2]))], [0, 16384, -32767, 32767]);
  assert.deepEqual([...toInt16([-3])], [-32767]);
  assert.deepEqual([...s16leBytes(Int16Array.from([0x0102, -2]))], [0x02, 0x01, 0xfe, 0xff]);
  assert.throws(() => new Resampler(0), /input rate must be a positive number of Hz, got 0/);
});
