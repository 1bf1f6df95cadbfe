/**
 * The shapes every figure shares. A figure is one file in bench/figures/ that measures
 * Roomservice and a baseline in the same run and returns rows for the summary table.
 */

/** One line of the summary table. `ratio` is always Roomservice ÷ baseline. */
export interface Row {
  /** What is measured, with its unit, e.g. "broadcast throughput (deliveries/s)". */
  metric: string;
  roomservice: number | null;
  baseline: number | null;
  unit: string;
  /** Roomservice ÷ baseline (null when there is no baseline). */
  ratio: number | null;
  /** Which way is better, so a reader of the ratio knows how to read it. */
  better: "higher" | "lower";
  /** Human-readable target, e.g. "≥ 0.8×" or "< 2 ms"; "" when the row is informational. */
  target: string;
  /** Whether the target is met; null for informational rows. */
  met: boolean | null;
  note?: string;
}

export interface FigureResult {
  rows: Row[];
  /** Everything else worth keeping (distributions, CPU use, per-rep samples). */
  details: Record<string, unknown>;
}

export interface BenchContext {
  quick: boolean;
  /** Write CPU profiles of the server children into this directory (--profile). */
  profileDir: string | null;
  /** Pin server and client children to different CPUs when the machine has ≥ 2. */
  pin: boolean;
  log(msg: string): void;
}

export interface Figure {
  /** Short name used by --only. */
  name: string;
  title: string;
  /** What the figure needs beyond Node and npm deps; the runner skips it when missing. */
  requires?: "docker";
  run(ctx: BenchContext): Promise<FigureResult>;
}

/** Builds a row, computing the ratio and whether a ratio/absolute target is met. */
export function row(r: {
  metric: string;
  roomservice: number | null;
  baseline?: number | null;
  unit: string;
  better: "higher" | "lower";
  target?: string;
  met?: boolean | null;
  note?: string;
  /** Overrides roomservice ÷ baseline, e.g. with the median of per-round ratios. */
  ratio?: number | null;
}): Row {
  const baseline = r.baseline ?? null;
  const ratio = r.ratio !== undefined ? r.ratio : r.roomservice !== null && baseline !== null && baseline !== 0 ? r.roomservice / baseline : null;
  const out: Row = {
    metric: r.metric,
    roomservice: r.roomservice,
    baseline,
    unit: r.unit,
    ratio,
    better: r.better,
    target: r.target ?? "",
    met: r.met ?? null,
  };
  if (r.note !== undefined) out.note = r.note;
  return out;
}
