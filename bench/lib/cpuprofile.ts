/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function (name + file:line),
 * heaviest first. Enough to see where a server child spends its CPU without DevTools.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { ROOT_DIR } from "./proc.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FrameSelf {
  frame: string;
  selfMs: number;
  share: number;
}

function label(n: ProfileNode): string {
  const cf = n.callFrame;
  const name = cf.functionName || "(anonymous)";
  if (!cf.url) return name;
  let where = cf.url.replace(/^file:\/\//, "");
  if (where.startsWith(ROOT_DIR)) where = relative(ROOT_DIR, where);
  where = where.replace(/^node_modules\//, "");
  return `${name} ${where}:${cf.lineNumber + 1}`;
}

export function summarizeProfile(path: string): FrameSelf[] {
  const p = JSON.parse(readFileSync(path, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  if (p.samples && p.timeDeltas) {
    // Time per sample is the delta to the next sample.
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
      const n = byId.get(p.samples[i]!);
      if (n === undefined) continue;
      const k = label(n);
      self.set(k, (self.get(k) ?? 0) + dt);
      total += dt;
    }
  } else {
    const per = (p.endTime - p.startTime) / 1000 / Math.max(1, p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0));
    for (const n of p.nodes) {
      const k = label(n);
      self.set(k, (self.get(k) ?? 0) + (n.hitCount ?? 0) * per);
      total += (n.hitCount ?? 0) * per;
    }
  }
  return [...self.entries()]
    .map(([frame, selfMs]) => ({ frame, selfMs, share: total > 0 ? selfMs / total : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

/** Top frames as lines; "(idle)" is listed but not counted in the busy share. */
export function formatTopFrames(frames: FrameSelf[], n: number): string[] {
  const busy = frames.filter((f) => f.frame !== "(idle)" && f.frame !== "(program)").reduce((a, f) => a + f.selfMs, 0);
  return frames
    .filter((f) => f.frame !== "(idle)")
    .slice(0, n)
    .map((f) => `${(busy > 0 ? (f.selfMs / busy) * 100 : 0).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.frame}`);
}

// `node bench/lib/cpuprofile.ts file.cpuprofile [N]` prints the top frames of one profile.
if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: node bench/lib/cpuprofile.ts <file.cpuprofile> [top N]");
    process.exit(2);
  }
  for (const l of formatTopFrames(summarizeProfile(file), Number(process.argv[3] ?? 25))) console.log(l);
}
