/** Small statistics helpers: everything the tables report is a median or a percentile. */

export function sorted(xs: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(xs as ArrayLike<number>);
  a.sort();
  return a;
}

/** Percentile by linear interpolation between closest ranks; p in [0, 100]. */
export function percentileOfSorted(s: Float64Array, p: number): number {
  if (s.length === 0) return NaN;
  if (s.length === 1) return s[0]!;
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export function median(xs: ArrayLike<number>): number {
  return percentileOfSorted(sorted(xs), 50);
}

export interface Summary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(xs: ArrayLike<number>): Summary {
  const s = sorted(xs);
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return {
    n: s.length,
    mean: s.length === 0 ? NaN : sum / s.length,
    min: s.length === 0 ? NaN : s[0]!,
    p50: percentileOfSorted(s, 50),
    p90: percentileOfSorted(s, 90),
    p95: percentileOfSorted(s, 95),
    p99: percentileOfSorted(s, 99),
    p999: percentileOfSorted(s, 99.9),
    max: s.length === 0 ? NaN : s[s.length - 1]!,
  };
}

/** Rounds to a number of significant digits for JSON output (keeps files readable). */
export function round(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const p = Math.pow(10, digits - Math.ceil(Math.log10(Math.abs(x))));
  return Math.round(x * p) / p;
}

export function roundSummary(s: Summary, digits = 4): Summary {
  const out = { ...s };
  for (const k of Object.keys(out) as (keyof Summary)[]) out[k] = round(out[k], digits);
  return out;
}

/** A number for the summary tables: thousands separated, ~3 significant digits below. */
export function formatNumber(x: number | null): string {
  if (x === null || Number.isNaN(x)) return "—";
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}
