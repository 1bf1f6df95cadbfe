/**
 * Issue #9 item 3 (Studio's part): the room page shows the pipeline's work live. The real
 * pipeline container (examples/pipeline, room storage mounted at /data) processes CSV files
 * that another participant drops into inbox/; Studio, joined in the browser, draws a progress
 * bar per file from the `progress` / `row_error` / `done` / `failed` messages as they arrive:
 * percent, rows, bytes, time left, malformed rows with their line numbers, and the end state
 * (done with its outputs, or failed with the reason). Screenshots in test-results/studio/.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseManifest } from "@roomservice/manifest";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, startStudioEnv } from "./studio-env.ts";

const ROOM = "progress";
/** Data rows whose line has a surplus column (line = row + 1: the header is line 1). */
const MALFORMED_ROWS = [5, 777, 40_000];

/** The example's own manifest, with the test's image tag. */
function pipelineManifest(): Record<string, unknown> {
  const file = fileURLToPath(new URL("../../../examples/pipeline/meshagent.yaml", import.meta.url));
  const r = parseManifest(readFileSync(file, "utf8"), { filename: file });
  if (!r.ok) throw new Error(`examples/pipeline/meshagent.yaml is invalid: ${JSON.stringify(r.errors)}`);
  const m = structuredClone(r.raw) as { container: { image: string } };
  m.container.image = IMAGES.pipeline;
  return m as unknown as Record<string, unknown>;
}

/** A CSV of `rows` data rows (~`rows` × 40 bytes) with MALFORMED_ROWS broken; the count of good rows. */
function csv(rows: number): { body: Buffer; good: number } {
  const lines = ["id,region,amount,note"];
  let good = 0;
  for (let i = 1; i <= rows; i++) {
    const row = `${i},region-${i % 7},${((i * 7919) % 100000) / 100},"order ${i}, as agreed"`;
    if (MALFORMED_ROWS.includes(i)) lines.push(`${row},surplus`);
    else {
      lines.push(row);
      good++;
    }
  }
  return { body: Buffer.from(lines.join("\n") + "\n"), good };
}

test("progress: the pipeline's progress, row errors, done and failed appear live on the room page", { timeout: 10 * 60_000 }, async (t) => {
  const s = await startStudioEnv();
  t.after(() => s.close());
  await s.env.addService(ROOM, pipelineManifest());
  // ~9 MB: long enough (the pipeline runs at a few MiB/s here) to be seen while it runs.
  const big = csv(200_000);

  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "progress", async () => {
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Join room" }).click();
    await page.getByRole("region", { name: "pipeline" }).getByText("ready", { exact: true }).waitFor({ timeout: 60_000 });
    // The container is ready before the service has joined and subscribed to storage events:
    // its own line says when it listens (a file deleted before then is never seen).
    await page.getByRole("region", { name: "Logs" }).getByRole("log").getByText("pipeline ready").waitFor({ timeout: 60_000 });
    // No work yet: no progress panel.
    assert.equal(await page.getByRole("region", { name: "Progress" }).count(), 0);

    // Another participant drops the files: a big one, then one that is gone before its turn.
    const uploader = await s.env.ts.client(ROOM, "uploader");
    t.after(() => uploader.dispose());
    await uploader.storage.upload("inbox/sales.csv", big.body);
    await uploader.storage.upload("inbox/gone.csv", Buffer.from("a,b\n1,2\n"));
    await uploader.storage.delete("inbox/gone.csv");

    const panel = page.getByRole("region", { name: "Progress" });
    const sales = panel.getByRole("listitem", { name: "inbox/sales.csv" });
    const bar = sales.getByRole("progressbar", { name: "inbox/sales.csv progress" });
    await bar.waitFor({ timeout: 30_000 });
    // While it runs: a percentage between the ends, rows, bytes of the total, and time left.
    let percent = 0;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && !(percent > 0 && percent < 100); await page.waitForTimeout(100)) {
      percent = Number(await bar.getAttribute("aria-valuenow"));
    }
    assert.ok(percent > 0 && percent < 100, `a percentage between 0 and 100 while it runs (saw ${percent})`);
    const running = (await sales.textContent()) ?? "";
    assert.match(running, /running/);
    const mib = big.body.length / 1048576;
    const total = `${mib.toFixed(mib < 10 ? 1 : 0)} MiB`;
    assert.ok(new RegExp(`[\\d.]+ % · [\\d,]+ rows · [\\d.]+ [KM]iB of ${total.replace(".", "\\.")}`).test(running), `percent, rows, bytes of ${total}: ${running}`);
    assert.match(running, /(left|estimating time left)/);
    await w.shot("progress-running");

    // Done: 100 %, every good row counted, the malformed ones listed with their line numbers.
    await sales.getByText("done", { exact: true }).waitFor({ timeout: 5 * 60_000 });
    assert.equal(await bar.getAttribute("aria-valuenow"), "100");
    const done = (await sales.textContent()) ?? "";
    assert.ok(done.includes(`${big.good.toLocaleString("en-US")} rows`), `all ${big.good} good rows counted: ${done}`);
    assert.ok(done.includes(`${MALFORMED_ROWS.length} malformed`), done);
    assert.match(done, /outbox\/sales\.jsonl/);
    await sales.getByText(`Row errors (${MALFORMED_ROWS.length})`).click();
    const errors = await sales.getByRole("list", { name: "inbox/sales.csv row errors" }).getByRole("listitem").allTextContents();
    assert.deepEqual(errors.map((e) => Number(/^line (\d+)/.exec(e)?.[1])), MALFORMED_ROWS.map((r) => r + 1), `row errors with line numbers: ${JSON.stringify(errors)}`);

    // The file deleted before its turn: failed, with the reason.
    const gone = panel.getByRole("listitem", { name: "inbox/gone.csv" });
    await gone.getByText("failed", { exact: true }).waitFor({ timeout: 60_000 });
    await gone.getByRole("alert").getByText(/Failed: .*(ENOENT|no such file)/).waitFor();
    // The storage panel follows the room's files: the outputs' folder appears without a Refresh.
    await page.getByRole("region", { name: "Storage" }).getByRole("button", { name: "outbox", exact: true }).waitFor({ timeout: 15_000 });
    await w.shot("progress-done");
    w.assertClean();
  });
});
