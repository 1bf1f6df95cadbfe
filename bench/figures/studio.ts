/**
 * Issue #7 acceptance 6 — Studio load time on loopback, and the built bundle's size.
 *
 *   Roomservice: the built Studio (packages/studio/dist) served by a server child; a signed-in
 *                browser (Debian's chromium via playwright-core, fresh context = cold cache)
 *                opens /rooms, and separately /rooms/{room} (the heavy page: SDK, uPlot).
 *   Baseline:    the same server code serving a static hello page through the same route
 *                (a second child whose Studio directory holds one small index.html).
 *
 * First paint is the browser's `first-contentful-paint`. Interactive is when the page shows
 * its data and its controls work: for /rooms the live-rooms list has loaded from the API, for
 * the room page the "Join room" button is rendered after the room's stream snapshot, for the
 * baseline its <h1> exists. Both are read in the page (performance.now() from navigation
 * start, recorded by a MutationObserver installed before any script runs), so they exclude
 * Playwright's own round trips. Repetitions alternate which side goes first; medians.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { chromium, type Browser } from "playwright-core";
import { stopAll, ROOT_DIR, type Child } from "../lib/proc.ts";
import { median, round } from "../lib/stats.ts";
import { startRoomservice } from "../lib/util.ts";
import { row, type Figure, type FigureResult } from "../lib/types.ts";

const STUDIO_DIST = join(ROOT_DIR, "packages", "studio", "dist");
const HELLO = "<!doctype html><html><head><meta charset=utf-8><title>hello</title></head><body><h1>Hello</h1></body></html>";

interface Load {
  firstPaintMs: number;
  interactiveMs: number;
}

/** In-page probe: records when `selector` first matches (ms since navigation start). */
const PROBE = `(() => {
  const sel = window.__probeSelector;
  const check = () => {
    if (window.__interactiveAt === undefined && document.querySelector(sel)) window.__interactiveAt = performance.now();
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, attributes: true });
  document.addEventListener("DOMContentLoaded", check);
})();`;

async function load(browser: Browser, url: string, selector: string, cookie: { name: string; value: string } | null): Promise<Load> {
  // The DOM types are not in the Node tsconfig: page functions reach globals via globalThis.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    if (cookie !== null) await context.addCookies([{ ...cookie, domain: new URL(url).hostname, path: "/", httpOnly: true, sameSite: "Strict" }]);
    await context.addInitScript(`window.__probeSelector = ${JSON.stringify(selector)};${PROBE}`);
    const page = await context.newPage();
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => (globalThis as unknown as { __interactiveAt?: number }).__interactiveAt !== undefined, undefined, { timeout: 30_000 });
    // first-contentful-paint is reported after the frame is presented: wait for it.
    await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0, undefined, { timeout: 30_000 });
    return await page.evaluate(() => ({
      firstPaintMs: performance.getEntriesByName("first-contentful-paint")[0]!.startTime,
      interactiveMs: (globalThis as unknown as { __interactiveAt: number }).__interactiveAt,
    }));
  } finally {
    await context.close();
  }
}

/** Sizes of the built app: everything in dist, and what the first page load fetches. */
function bundleSizes(): { totalBytes: number; totalGzipBytes: number; initialBytes: number; initialGzipBytes: number; files: Record<string, number> } {
  const files: Record<string, number> = {};
  let totalBytes = 0;
  let totalGzipBytes = 0;
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, `${rel}${e.name}/`);
      else {
        const b = readFileSync(p);
        files[rel + e.name] = b.length;
        totalBytes += b.length;
        totalGzipBytes += gzipSync(b, { level: 9 }).length;
      }
    }
  };
  walk(STUDIO_DIST, "");
  const html = readFileSync(join(STUDIO_DIST, "index.html"), "utf8");
  const initial = ["index.html", ...[...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]!)];
  let initialBytes = 0;
  let initialGzipBytes = 0;
  for (const f of initial) {
    const b = readFileSync(join(STUDIO_DIST, f));
    initialBytes += b.length;
    initialGzipBytes += gzipSync(b, { level: 9 }).length;
  }
  return { totalBytes, totalGzipBytes, initialBytes, initialGzipBytes, files };
}

export const studio: Figure = {
  name: "studio",
  title: "Studio: first paint and interactive on loopback vs a static page from the same server; bundle size",
  async run(ctx): Promise<FigureResult> {
    statSync(join(STUDIO_DIST, "index.html")); // built by bench/run.sh (scripts/ensure-studio.sh)
    const reps = ctx.quick ? 2 : 10;
    const helloDir = await mkdtemp(join(tmpdir(), "rs-bench-hello-"));
    await writeFile(join(helloDir, "index.html"), HELLO);
    let rs: Child | null = null;
    let base: Child | null = null;
    let browser: Browser | null = null;
    const cleanups: (() => Promise<void>)[] = [() => rm(helloDir, { recursive: true, force: true })];
    const samples = { rooms: [] as Load[], room: [] as Load[], hello: [] as Load[] };
    try {
      const a = await startRoomservice(ctx, "studio-rs-server", { env: { RS_STUDIO_DIR: STUDIO_DIST } });
      rs = a.child;
      cleanups.push(a.remove);
      const b = await startRoomservice(ctx, "studio-hello-server", { env: { RS_STUDIO_DIR: helloDir } });
      base = b.child;
      cleanups.push(b.remove);
      browser = await chromium.launch({
        executablePath: process.env.ROOMSERVICE_CHROMIUM ?? "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
      // Sign in once through the API; each load gets the session cookie in a fresh context.
      const { key } = await rs.call<{ key: string }>("apiKey");
      const res = await fetch(`${a.url}/auth/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ api_key: key }) });
      if (res.status !== 200) throw new Error(`sign-in failed: HTTP ${res.status} ${await res.text()}`);
      const m = /rs_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "");
      if (m === null) throw new Error("sign-in set no rs_session cookie");
      const cookie = { name: "rs_session", value: m[1]! };

      const runs = {
        rooms: () => load(browser!, `${a.url}/rooms`, "[aria-labelledby=live-h] .empty, [aria-labelledby=live-h] table", cookie),
        room: () => load(browser!, `${a.url}/rooms/bench`, "[aria-label=Chat] button.primary", cookie),
        hello: () => load(browser!, `${b.url}/`, "h1", null),
      };
      // One unrecorded round: the servers' first requests (file reads, gzip, JIT) are not the figure.
      for (const f of Object.values(runs)) await f();
      for (let r = 0; r < reps; r++) {
        const order: (keyof typeof runs)[] = r % 2 === 0 ? ["rooms", "room", "hello"] : ["hello", "room", "rooms"];
        for (const k of order) samples[k].push(await runs[k]());
        const last = (k: keyof typeof runs) => `${samples[k].at(-1)!.firstPaintMs.toFixed(0)}/${samples[k].at(-1)!.interactiveMs.toFixed(0)}`;
        ctx.log(`  rep ${r + 1}/${reps} (first paint/interactive ms): /rooms ${last("rooms")}, /rooms/{room} ${last("room")}, hello ${last("hello")}`);
      }
    } finally {
      await browser?.close();
      await stopAll(rs, base);
      for (const c of cleanups) await c();
    }

    const med = (k: keyof typeof samples, f: keyof Load) => round(median(samples[k].map((s) => s[f])));
    const size = bundleSizes();
    const kib = (n: number) => round(n / 1024);
    const rows = [
      row({ metric: "Studio /rooms first paint (ms)", roomservice: med("rooms", "firstPaintMs"), baseline: med("hello", "firstPaintMs"), unit: "ms", better: "lower", target: "< 1000 ms", met: med("rooms", "firstPaintMs") < 1000 }),
      row({ metric: "Studio /rooms interactive, data shown (ms)", roomservice: med("rooms", "interactiveMs"), baseline: med("hello", "interactiveMs"), unit: "ms", better: "lower", target: "< 1000 ms", met: med("rooms", "interactiveMs") < 1000 }),
      row({ metric: "Studio room page first paint (ms)", roomservice: med("room", "firstPaintMs"), baseline: med("hello", "firstPaintMs"), unit: "ms", better: "lower", target: "< 1000 ms", met: med("room", "firstPaintMs") < 1000 }),
      row({ metric: "Studio room page interactive, stream snapshot shown (ms)", roomservice: med("room", "interactiveMs"), baseline: med("hello", "interactiveMs"), unit: "ms", better: "lower", target: "< 1000 ms", met: med("room", "interactiveMs") < 1000 }),
      row({ metric: "bundle: first load, gzip (KiB)", roomservice: kib(size.initialGzipBytes), unit: "KiB", better: "lower", note: `${kib(size.initialBytes)} KiB uncompressed (index.html + entry JS + CSS)` }),
      row({ metric: "bundle: whole app, gzip (KiB)", roomservice: kib(size.totalGzipBytes), unit: "KiB", better: "lower", note: `${kib(size.totalBytes)} KiB uncompressed; room page and editor load on demand` }),
    ];
    return { rows, details: { reps, samples, bundle: size } };
  },
};
