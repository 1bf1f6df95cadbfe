/**
 * Roomservice benchmarks: `node bench/run.ts [--quick] [--only name[,name]] [--profile]
 * [--no-pin] [--out file]` (or `bash bench/run.sh ...`).
 *
 * Every figure measures Roomservice and a baseline in this same run on this machine and
 * reports Roomservice ÷ baseline. Prints a table and writes bench/results/latest.json.
 * Exits non-zero only when a benchmark crashes — never because a target was missed.
 *
 *   --quick     small sizes and short windows (< 60 s in total) so CI keeps this working
 *   --only      run only the named figures (messaging, storage, density)
 *   --profile   write CPU profiles of the server children (node --cpu-prof) to
 *               bench/results/profiles/ and print their top frames
 *   --no-pin    do not pin server and client children to separate CPUs
 */
import { parseArgs } from "node:util";
import { availableParallelism, cpus, totalmem, release, platform, loadavg } from "node:os";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, readdirSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { figures } from "./figures/index.ts";
import { formatNumber } from "./lib/stats.ts";
import { BENCH_DIR, ROOT_DIR } from "./lib/proc.ts";
import { sdkVersion } from "./lib/sdk.ts";
import { RS_SERVER_SCRIPT } from "./lib/util.ts";
import { summarizeProfile, formatTopFrames } from "./lib/cpuprofile.ts";
import { reapDeadBenchRuns } from "./lib/leftovers.ts";
import type { BenchContext, Figure, FigureResult, Row } from "./lib/types.ts";

const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
    profile: { type: "boolean", default: false },
    "no-pin": { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (opts.help) {
  console.log("usage: node bench/run.ts [--quick] [--only name[,name]] [--profile] [--no-pin] [--out file]");
  console.log(`figures: ${figures.map((f) => f.name).join(", ")}`);
  process.exit(0);
}

const only = (opts.only ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
for (const name of only) {
  if (!figures.some((f) => f.name === name)) {
    console.error(`unknown figure ${JSON.stringify(name)}; known: ${figures.map((f) => f.name).join(", ")}`);
    process.exit(2);
  }
}
const selected = figures.filter((f) => only.length === 0 || only.includes(f.name));
const profileRoot = opts.profile ? join(BENCH_DIR, "results", "profiles") : null;
if (profileRoot) rmSync(profileRoot, { recursive: true, force: true });

// Bounded: a hung benchmark ends the run instead of holding CI (children exit with us). Quick
// mode takes ~3 min on a quiet 2-core machine; 10 min leaves room for a loaded one (a 5 min
// bound was hit at load average ~30) while a hang still ends well inside CI's budget.
const watchdogMs = opts.quick ? 10 * 60_000 : 45 * 60_000;
setTimeout(() => {
  console.error(`benchmarks did not finish within ${watchdogMs / 60_000} min; aborting`);
  process.exit(1);
}, watchdogMs).unref();

function dockerAvailable(): boolean {
  try {
    execFileSync("docker", ["info", "--format", "{{.ServerVersion}}"], { stdio: "ignore", timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

const machine = {
  nproc: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  node: process.version,
  sdk: `@meshagent/meshagent ${sdkVersion()}`,
  os: `${platform()} ${release()}`,
  loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
};
const command = `node bench/run.ts ${process.argv.slice(2).join(" ")}`.trim();

console.log(`Roomservice benchmarks (${opts.quick ? "quick" : "full"}) — ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.sdk}`);
if (RS_SERVER_SCRIPT !== "children/rs-server.ts") console.log(`note: BENCH_RS_SERVER=${RS_SERVER_SCRIPT} — benchmarking an experimental server child`);
if (machine.loadavgAtStart[0]! > machine.nproc / 2) {
  console.log(`note: load average is ${machine.loadavgAtStart[0]} on ${machine.nproc} CPUs — other work is running; windows with outside load are detected and measured again`);
}

interface Outcome {
  figure: Figure;
  result?: FigureResult;
  error?: string;
  skipped?: string;
  seconds: number;
  profiles?: Record<string, string[]>;
}

// SDK 0.39.9 can reject queued requests on dispose() with nothing awaiting them; that is a
// client quirk, not a benchmark failure: report it and go on.
const warnings: string[] = [];
process.on("unhandledRejection", (err) => {
  const text = err instanceof Error ? err.message : String(err);
  warnings.push(text);
  console.log(`   warning: unhandled rejection: ${text}`);
});

// A killed earlier run's containers (pool, prepared rooms) would hold CPU and memory during
// this one and never go away: reap every benchmark owner whose runner is gone (lib/leftovers.ts).
await reapDeadBenchRuns((m) => console.log(m));

const outcomes: Outcome[] = [];
const started = Date.now();
for (const figure of selected) {
  const t0 = Date.now();
  console.log(`\n== ${figure.name}: ${figure.title}`);
  if (figure.requires === "docker" && !dockerAvailable()) {
    console.log("   skipped: no Docker daemon reachable");
    outcomes.push({ figure, skipped: "no Docker daemon reachable", seconds: 0 });
    continue;
  }
  const ctx: BenchContext = {
    quick: opts.quick,
    pin: !opts["no-pin"],
    profileDir: profileRoot ? join(profileRoot, figure.name) : null,
    log: (m) => console.log(m),
  };
  try {
    const result = await figure.run(ctx);
    const o: Outcome = { figure, result, seconds: (Date.now() - t0) / 1000 };
    if (ctx.profileDir) o.profiles = profileSummaries(ctx.profileDir);
    outcomes.push(o);
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`   CRASHED: ${error}`);
    outcomes.push({ figure, error, seconds: (Date.now() - t0) / 1000 });
  }
  console.log(`   (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

function profileSummaries(dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  } catch {
    return out;
  }
  for (const f of files) {
    const lines = formatTopFrames(summarizeProfile(join(dir, f)), 15);
    out[f] = lines;
    console.log(`\n   top self-time frames, ${relative(ROOT_DIR, join(dir, f))}:`);
    for (const l of lines) console.log(`     ${l}`);
  }
  return out;
}

// ---- table ----
const fmt = formatNumber;
const table: string[][] = [["figure", "metric", "Roomservice", "baseline", "ratio (RS÷base)", "target", "met?"]];
const notes: string[] = [];
for (const o of outcomes) {
  if (o.error !== undefined) table.push([o.figure.name, "CRASHED (see above)", "", "", "", "", ""]);
  else if (o.skipped !== undefined) table.push([o.figure.name, `skipped: ${o.skipped}`, "", "", "", "", ""]);
  else
    for (const r of o.result!.rows as Row[]) {
      table.push([
        o.figure.name, r.metric, fmt(r.roomservice), fmt(r.baseline), r.ratio === null ? "—" : `${r.ratio.toFixed(2)}× (${r.better} better)`,
        r.target || "—", r.met === null ? "—" : r.met ? "yes" : "NO",
      ]);
      if (r.note !== undefined) notes.push(`${o.figure.name} / ${r.metric}: ${r.note}`);
    }
}
const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
console.log("\n" + table.map((r, j) => r.map((c, i) => (i >= 2 && j > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")).join("\n"));
if (notes.length > 0) console.log("\nnotes:\n" + notes.map((n) => `  - ${n}`).join("\n"));

// ---- results file ----
const outPath = opts.out ? resolve(opts.out) : join(BENCH_DIR, "results", "latest.json");
mkdirSync(join(outPath, ".."), { recursive: true });
writeFileSync(
  outPath,
  JSON.stringify(
    {
      mode: opts.quick ? "quick" : "full",
      command,
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      machine: { ...machine, loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      pinned: !opts["no-pin"],
      serverScript: RS_SERVER_SCRIPT,
      warnings,
      figures: Object.fromEntries(
        outcomes.map((o) => [
          o.figure.name,
          { title: o.figure.title, seconds: o.seconds, error: o.error, skipped: o.skipped, rows: o.result?.rows, details: o.result?.details, profiles: o.profiles },
        ]),
      ),
    },
    null,
    2,
  ) + "\n",
);
console.log(`\nresults written to ${relative(process.cwd(), outPath) || outPath} (${((Date.now() - started) / 1000).toFixed(1)} s total)`);
process.exit(outcomes.some((o) => o.error !== undefined) ? 1 : 0);
