import { csvToJsonl } from "./transform.mjs";
const t0 = Date.now(); let n = 0;
const s = await csvToJsonl({ input: "/tmp/pl/t.csv", outJsonl: "/tmp/pl/outbox/t.jsonl", outSummary: "/tmp/pl/outbox/t.summary.json", onProgress: () => n++ });
console.log(s.rows, s.malformed_rows, Date.now() - t0, "ms", n, "progress", process.resourceUsage().maxRSS / 1024 | 0, "MB");
