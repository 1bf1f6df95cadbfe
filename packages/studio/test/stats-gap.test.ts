/**
 * A page whose room stream reconnects after a gap draws the stats samples of the gap too (the
 * stream resends log lines, not stats; Studio asks listSessionMetrics for those after its
 * newest sample). Chromium against a real container: the server cuts the page's stream, the
 * page's reconnect is held (playwright route) until the server has taken more samples and
 * its resume buffer (3 messages here) no longer holds them; then it is let through. The CPU
 * chart then holds exactly the samples the server kept between its first and last (no hole),
 * and a page opened mid-session starts with the session's earlier samples.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Route } from "playwright-core";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv, waitUntil } from "./studio-env.ts";

const ROOM = "stats";
// Some CPU and a log line now and then: it runs, is sampled, and fills the resume buffer.
const SCRIPT = `setInterval(() => { let x = 0; for (let i = 0; i < 2e5; i++) x += i; console.log("tick " + x); }, 100);`;

interface Sample { at: string; session_id: string }

test("stats chart: samples taken while the page's stream was away are filled in after it reconnects", { timeout: 240_000 }, async (t) => {
  const s = await startStudioEnv({ server: { activityLimits: { statsIntervalMs: 250, resumeMessages: 3 } } });
  t.after(() => s.close());
  const serviceId = await s.env.addService(ROOM, manifest("busy", IMAGES.http, { container: { image: IMAGES.http, command: ["node", "-e", SCRIPT] } }));
  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "stats-gap", async () => {
    // Stream requests go through here: let through, or held while `hold` is set.
    let hold: { release: () => void; released: Promise<void>; seen: boolean } | null = null;
    await page.route(/\/rooms\/stats\/stream/, async (route: Route) => {
      const h = hold;
      if (h !== null) {
        h.seen = true;
        await h.released;
      }
      await route.continue().catch(() => undefined); // the page may be gone by then
    });

    const asked: string[] = [];
    page.on("response", async (r) => {
      if (!/\/metrics\?/.test(r.url())) return;
      const n = ((await r.json()) as { metrics: Sample[] }).metrics.map((x) => x.at.slice(17));
      asked.push(`${new URL(r.url()).searchParams.get("after")?.slice(17)} -> ${n.join(",")}`);
    });
    const t0 = Date.now();
    const step = (what: string) => t.diagnostic(`${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Join room" }).click();
    const chart = page.locator("figure.chart", { hasText: "busy CPU" });
    const attr = async (n: string) => (await chart.getAttribute(n)) ?? "";
    await waitUntil("a few samples on the chart", async () => Number(await attr("data-samples")) >= 4, 60_000);
    const sessionId = await waitUntil("the session", async () => (await s.rest<{ sessions: { id: string; is_active: boolean }[] }>("GET", `/accounts/projects/default/rooms/${ROOM}/sessions`)).sessions.find((x) => x.is_active)?.id, 10_000);
    const kept = async () => (await s.rest<{ metrics: Sample[] }>("GET", `/accounts/projects/default/sessions/${sessionId}/metrics?service=${serviceId}`)).metrics;

    // Cut the stream; hold its reconnect until the server has taken 5 more samples.
    let release!: () => void;
    const h = { release: () => release(), released: new Promise<void>((r) => (release = r)), seen: false };
    hold = h;
    const lastBefore = await attr("data-last-at");
    step("samples on the chart");
    for (const c of s.env.ts.server.streams) c.end();
    await waitUntil("the page to try to reconnect", () => h.seen, 30_000);
    await page.getByRole("status").filter({ hasText: "reconnecting" }).waitFor();
    await waitUntil("5 samples taken meanwhile", async () => (await kept()).filter((x) => x.at > lastBefore).length >= 5, 60_000);
    const gapEnd = (await kept()).at(-1)!.at;
    step("samples taken while away");
    hold = null;
    h.release();

    // Back, and past the gap: the chart comes to hold every sample the server kept in its
    // range, those of the gap too (without them it never does: the wait runs out).
    await waitUntil("the chart past the gap", async () => (await attr("data-last-at")) > gapEnd, 60_000);
    await page.getByRole("status").filter({ hasText: "reconnecting" }).waitFor({ state: "detached" });
    step("past the gap");
    let shown = { n: 0, first: "", last: "" };
    let inRange: Sample[] = [];
    const whole = async () => {
      // One read of the three (samples keep arriving), then what the server kept in that range.
      shown = await chart.evaluate((el) => ({ n: Number(el.getAttribute("data-samples")), first: el.getAttribute("data-first-at") ?? "", last: el.getAttribute("data-last-at") ?? "" }));
      inRange = (await kept()).filter((x) => x.session_id === sessionId && x.at >= shown.first && x.at <= shown.last);
      return shown.n === inRange.length;
    };
    const filled = await waitUntil("the chart to hold every sample of its range", whole, 30_000).then(() => true, () => false);
    t.diagnostic(`asked for: ${JSON.stringify(asked)}`);
    t.diagnostic(`chart: ${shown.n} samples ${shown.first} … ${shown.last}; kept in that range: ${inRange.length}`);
    assert.ok(filled, `the chart holds every sample of its range, those of the gap too: ${shown.n} of ${inRange.length}`);
    // The page began before the first sample it saw live: it asked for the session's earlier ones.
    assert.equal(shown.first, (await kept())[0]!.at, "the chart starts at the session's first sample");
    await w.shot("stats-gap");
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Leave room" }).click();
    // The cut stream shows as an incomplete response.
    w.assertClean((e) => /ERR_INCOMPLETE_CHUNKED_ENCODING/.test(e));
  });
});
