/**
 * When the server cannot make up everything a slow page missed (here its catch-up bound is set
 * to 300 lines), the log viewer says so: "N lines skipped" in its toolbar and a marker on the
 * line after the gap; the lines shown plus the lines reported skipped are exactly the lines the
 * service printed, so no line goes missing silently.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv, waitUntil } from "./studio-env.ts";

const ROOM = "gaps";
const TOTAL = 20_000;
// TOTAL numbered lines of ~1 KB at 2,000 lines/s (long ones: the slow page falls behind its
// bound in seconds, however much the sockets buffer), then "done".
const SCRIPT = `
let i = 0;
const t = setInterval(() => { for (let k = 0; k < 100 && i < ${TOTAL}; k++) console.log("line " + (++i) + " " + "x".repeat(1000)); if (i >= ${TOTAL}) { clearInterval(t); console.log("done"); setInterval(() => {}, 1e9); } }, 50);
`;

test("log viewer: lines the server could not make up are reported as skipped, and shown + skipped = printed", { timeout: 300_000 }, async (t) => {
  const s = await startStudioEnv({
    server: {
      streamLimits: { maxSseBufferedBytes: 64 * 1024 },
      activityLimits: { resumeMessages: 200, resumeBytes: 64 * 1024, catchUp: { batchLines: 100, maxLines: 300, stallMs: 30_000 } },
    },
  });
  t.after(() => s.close());
  await s.env.addService(ROOM, manifest("counter", IMAGES.http, { container: { image: IMAGES.http, command: ["node", "-e", SCRIPT] } }));
  const t0 = Date.now();
  const step = (what: string) => t.diagnostic(`${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "logs-gap", async () => {
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    const streams: string[] = [];
    page.on("request", (r) => void (/\/rooms\/gaps\/stream/.test(r.url()) && streams.push(r.url())));
    await page.getByRole("button", { name: "Join room" }).click();
    const logs = page.getByRole("region", { name: "Logs" });
    const count = logs.getByText(/^[\d,]+ lines$/);
    const shown = async () => Number(((await count.textContent()) ?? "0").replace(/\D/g, ""));
    await waitUntil("lines arriving", async () => (await shown()) > 500, 120_000);
    step("500 lines");

    // A slow link: the page is dropped, resumes, and gets at most 300 of the lines it missed.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: 10_000, uploadThroughput: -1 });
    await waitUntil("the page to be dropped and reconnect", () => streams.some((u) => u.includes("last_event_id=")), 60_000);
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    step("dropped and reconnected");

    await logs.getByRole("log").getByText("done", { exact: true }).waitFor({ timeout: 120_000 });
    step("done");
    const badge = logs.getByRole("status").filter({ hasText: /lines skipped$/ });
    await badge.waitFor();
    const skipped = Number(((await badge.textContent()) ?? "").replace(/\D/g, ""));
    const lines = await shown();
    t.diagnostic(`shown ${lines}, skipped ${skipped}`);
    assert.ok(skipped > 0, "some lines were skipped");
    assert.equal(lines + skipped, TOTAL + 1, "every printed line is shown or reported skipped");
    await w.shot("logs-gap");
    // The line after a gap carries a marker saying how many lines are missing before it
    // (rows are virtualized: scroll until one renders; unwrapped, one screen is 22 rows).
    const view = logs.getByRole("log");
    await logs.getByRole("button", { name: "Pause" }).click();
    await logs.getByRole("button", { name: "Wrap" }).click();
    const found = await view.evaluate(async (el) => {
      for (let y = 0; y <= el.scrollHeight; y += el.clientHeight) {
        el.scrollTop = y;
        await new Promise((r) => setTimeout(r, 50)); // a frame or three: the virtualizer renders the rows
        if (el.querySelector(".gap") !== null) return el.querySelector(".gap")!.textContent;
      }
      return null;
    });
    assert.match(found ?? "", /^[\d,]+ lines skipped before this one$/);
    await w.shot("logs-gap-marker");
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Leave room" }).click();
    w.assertClean();
  });
});
