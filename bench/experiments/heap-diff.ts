/**
 * NOT PART OF THE SUITE. Compares two (or more) V8 heap snapshots of the SAME process
 * (`v8.writeHeapSnapshot()`; node ids are stable within one process) and prints what the
 * later one holds that the earlier one did not: the objects allocated after snapshot A that are
 * still alive in snapshot B, grouped by `type:name` (count, self size), and for the largest
 * groups the shortest retainer path from the GC roots of a few of them (weak edges skipped).
 *
 *   node --max-old-space-size=6000 bench/experiments/heap-diff.ts a.heapsnapshot b.heapsnapshot [c.heapsnapshot…]
 *
 * With three or more snapshots every consecutive pair is compared, so a plateau (growth in
 * A→B, none in B→C) shows as such. Native (embedder) nodes are left out of the new-object
 * list: Node gives them new ids in every snapshot. Also printed per pair: the total self size by node type
 * (code, closure, object, …), which separates V8's own code growth from program data.
 */
import { readFileSync } from "node:fs";

interface Snap {
  file: string;
  nf: number;
  ef: number;
  nodes: Uint32Array | number[];
  edges: number[];
  strings: string[];
  nodeTypes: string[];
  edgeTypes: string[];
  iType: number;
  iName: number;
  iId: number;
  iSize: number;
  iEdges: number;
  eType: number;
  eName: number;
  eTo: number;
  /** First edge index (into `edges`) of each node ordinal. */
  firstEdge: Uint32Array;
}

function load(file: string): Snap {
  const j = JSON.parse(readFileSync(file, "utf8"));
  const meta = j.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const s: Snap = {
    file, nf, ef, nodes: j.nodes, edges: j.edges, strings: j.strings,
    nodeTypes: meta.node_types[0], edgeTypes: meta.edge_types[0],
    iType: meta.node_fields.indexOf("type"), iName: meta.node_fields.indexOf("name"), iId: meta.node_fields.indexOf("id"),
    iSize: meta.node_fields.indexOf("self_size"), iEdges: meta.node_fields.indexOf("edge_count"),
    eType: meta.edge_fields.indexOf("type"), eName: meta.edge_fields.indexOf("name_or_index"), eTo: meta.edge_fields.indexOf("to_node"),
    firstEdge: new Uint32Array(0),
  };
  const n = s.nodes.length / nf;
  s.firstEdge = new Uint32Array(n + 1);
  let e = 0;
  for (let i = 0; i < n; i++) {
    s.firstEdge[i] = e;
    e += (s.nodes[i * nf + s.iEdges] as number) * ef;
  }
  s.firstEdge[n] = e;
  return s;
}

const typeOf = (s: Snap, ord: number) => s.nodeTypes[s.nodes[ord * s.nf + s.iType] as number]!;
const nameOf = (s: Snap, ord: number) => s.strings[s.nodes[ord * s.nf + s.iName] as number]!;
const keyOf = (s: Snap, ord: number) => `${typeOf(s, ord)}:${nameOf(s, ord).slice(0, 100).replace(/\s+/g, " ")}`;

/** Parent ordinal and edge label of every node on a BFS from the root (ordinal 0), weak edges skipped. */
function bfs(s: Snap): { parent: Int32Array; via: string[] } {
  const n = s.nodes.length / s.nf;
  const parent = new Int32Array(n).fill(-1);
  const via: string[] = new Array(n);
  parent[0] = 0;
  const queue = new Uint32Array(n);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  while (head < tail) {
    const ord = queue[head++]!;
    for (let e = s.firstEdge[ord]!; e < s.firstEdge[ord + 1]!; e += s.ef) {
      const et = s.edgeTypes[s.edges[e + s.eType]!]!;
      if (et === "weak") continue;
      const to = s.edges[e + s.eTo]! / s.nf;
      if (parent[to] !== -1) continue;
      parent[to] = ord;
      const nm = s.edges[e + s.eName]!;
      via[to] = et === "element" || et === "hidden" ? `[${nm}]` : `.${s.strings[nm]}`;
      queue[tail++] = to;
    }
  }
  return { parent, via };
}

function path(s: Snap, tree: { parent: Int32Array; via: string[] }, ord: number): string {
  const chain: number[] = [];
  let cur = ord;
  for (let hops = 0; hops < 40 && cur !== 0; hops++) {
    if (tree.parent[cur] === -1) return `(unreachable from the roots) ${keyOf(s, ord)}`;
    chain.push(cur);
    cur = tree.parent[cur]!;
  }
  chain.reverse();
  // Each line: a retainer, then the edge that leads to the next line.
  return chain.map((c, i) => `${keyOf(s, c).slice(0, 70)}${i + 1 < chain.length ? ` —${tree.via[chain[i + 1]!]}→` : ""}`).join("\n      ");
}

function compare(a: Snap, b: Snap): void {
  console.log(`\n=== ${a.file} → ${b.file}`);
  const idsA = new Set<number>();
  for (let i = 0; i < a.nodes.length; i += a.nf) idsA.add(a.nodes[i + a.iId] as number);
  const groups = new Map<string, { n: number; size: number; sample: number[] }>();
  const byType = new Map<string, { a: number; b: number }>();
  for (let i = 0; i < a.nodes.length; i += a.nf) {
    const t = typeOf(a, i / a.nf);
    const e = byType.get(t) ?? { a: 0, b: 0 };
    e.a += a.nodes[i + a.iSize] as number;
    byType.set(t, e);
  }
  let newTotal = 0;
  for (let i = 0; i < b.nodes.length; i += b.nf) {
    const ord = i / b.nf;
    const t = typeOf(b, ord);
    const size = b.nodes[i + b.iSize] as number;
    const e = byType.get(t) ?? { a: 0, b: 0 };
    e.b += size;
    byType.set(t, e);
    // Native (embedder) nodes get new ids in every snapshot: they would all look new. Their
    // growth shows in the by-type table.
    if (idsA.has(b.nodes[i + b.iId] as number) || t === "native" || t === "synthetic") continue;
    newTotal += size;
    const k = keyOf(b, ord);
    const g = groups.get(k) ?? { n: 0, size: 0, sample: [] };
    g.n++;
    g.size += size;
    if (g.sample.length < 200) g.sample.push(ord);
    groups.set(k, g);
  }
  console.log(`self size by node type (A → B, Δ):`);
  for (const [t, e] of [...byType].sort((x, y) => Math.abs(y[1].b - y[1].a) - Math.abs(x[1].b - x[1].a))) {
    console.log(`  ${t.padEnd(16)} ${(e.a / 1024).toFixed(0).padStart(8)} KiB → ${(e.b / 1024).toFixed(0).padStart(8)} KiB  Δ ${((e.b - e.a) / 1024).toFixed(1).padStart(8)} KiB`);
  }
  console.log(`objects in B that were not in A: ${(newTotal / 1024).toFixed(0)} KiB`);
  const top = [...groups].sort((x, y) => y[1].size - x[1].size).slice(0, Number(process.env.TOP ?? 40));
  for (const [k, g] of top) console.log(`  ${String(g.n).padStart(7)}  ${(g.size / 1024).toFixed(1).padStart(8)} KiB  ${k}`);
  const tree = bfs(b);
  const paths = Number(process.env.PATHS ?? 12);
  console.log(`retainer paths (shortest from the roots) of new objects in the ${paths} largest groups:`);
  for (const [k, g] of top.slice(0, paths)) {
    console.log(`  ## ${k} (${g.n})`);
    // Distinct paths among the samples, by their retainer chain without the leaf.
    const seen = new Map<string, number>();
    for (const ord of g.sample) {
      const p = path(b, tree, ord);
      const shape = p.replace(/@\d+/g, "").replace(/\[\d+\]/g, "[i]");
      seen.set(shape, (seen.get(shape) ?? 0) + 1);
    }
    for (const [p, n] of [...seen].sort((x, y) => y[1] - x[1]).slice(0, 3)) console.log(`    ×${n} of ${g.sample.length} sampled:\n      ${p}`);
  }
}

const files = process.argv.slice(2);
if (files.length < 2) throw new Error("usage: heap-diff.ts a.heapsnapshot b.heapsnapshot [c.heapsnapshot…]");
let prev = load(files[0]!);
for (const f of files.slice(1)) {
  const next = load(f);
  compare(prev, next);
  prev = next;
}
