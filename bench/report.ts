/**
 * Renders bench/results/latest.json (or the file given) as the Markdown that goes into
 * docs/benchmarks.md: machine, command, the summary table with ratios, and the notes.
 *   node bench/report.ts [results.json]
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_DIR } from "./lib/proc.ts";
import type { Row } from "./lib/types.ts";
import { formatNumber } from "./lib/stats.ts";

const file = process.argv[2] ?? join(BENCH_DIR, "results", "latest.json");
const r = JSON.parse(readFileSync(file, "utf8"));
const fmt = formatNumber;
const m = r.machine;
console.log(`- machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.os}; load average at start ${m.loadavgAtStart.join(" / ")}, at end ${m.loadavgAtEnd?.join(" / ") ?? "?"}`);
console.log(`- Node ${m.node}, ${m.sdk}`);
console.log(`- command: \`${r.command}\` (${r.mode} mode, ${Math.round(r.seconds)} s, started ${r.startedAt}); server and client children pinned to separate CPUs: ${r.pinned ? "yes" : "no"}`);
console.log("");
console.log("| figure | metric | Roomservice | baseline | ratio (RS ÷ baseline) | target | met? |");
console.log("|---|---|--:|--:|--:|---|---|");
const notes: string[] = [];
for (const [name, f] of Object.entries<any>(r.figures)) {
  if (f.error) {
    console.log(`| ${name} | CRASHED | | | | | |`);
    continue;
  }
  if (f.skipped) {
    console.log(`| ${name} | skipped: ${f.skipped} | | | | | |`);
    continue;
  }
  for (const row of f.rows as Row[]) {
    const ratio = row.ratio === null ? "—" : `${row.ratio.toFixed(2)}× (${row.better} is better)`;
    console.log(`| ${name} | ${row.metric} | ${fmt(row.roomservice)} | ${fmt(row.baseline)} | ${ratio} | ${row.target || "—"} | ${row.met === null ? "—" : row.met ? "yes" : "**no**"} |`);
    if (row.note) notes.push(`- ${name} / ${row.metric}: ${row.note}`);
  }
}
if (notes.length > 0) console.log("\n" + notes.join("\n"));
