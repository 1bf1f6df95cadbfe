/**
 * Issue #7 acceptance 4: a crash-looping service shows BackOff events and its exit code; a
 * service whose image is missing shows FailedStart with the next step to take.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv } from "./studio-env.ts";

const ROOM = "trouble";

test("crash loop: BackOff and the exit code in the timeline and on the card; missing image: FailedStart with the next step", async (t) => {
  const s = await startStudioEnv();
  t.after(() => s.close());
  await s.env.addService(ROOM, manifest("crasher", IMAGES.http, { container: { image: IMAGES.http, command: ["node", "-e", "process.exit(3)"] } }));
  await s.env.addService(ROOM, manifest("ghost", "roomservice-example/does-not-exist:1"));

  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "failures", async () => {
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    await page.getByRole("button", { name: "Join room" }).click();

    const events = page.getByRole("region", { name: "Events" });
    await events.getByRole("cell", { name: "BackOff", exact: true }).first().waitFor({ timeout: 60_000 });
    const crasher = page.getByRole("region", { name: "crasher" });
    await crasher.getByText("exit code 3").waitFor({ timeout: 30_000 });
    // The Exited event in the timeline carries the code too.
    const exited = events.getByRole("row").filter({ hasText: "Exited" }).filter({ hasText: "crasher" });
    await exited.first().waitFor({ timeout: 30_000 });
    assert.match((await exited.first().textContent()) ?? "", /3/);

    const ghost = page.getByRole("region", { name: "ghost" });
    await ghost.getByText("failed", { exact: true }).waitFor({ timeout: 30_000 });
    const failed = events.getByRole("row").filter({ hasText: "FailedStart" }).filter({ hasText: "ghost" });
    await failed.first().waitFor({ timeout: 30_000 });
    assert.match((await failed.first().textContent()) ?? "", /not found.*build it/);
    assert.match((await ghost.textContent()) ?? "", /build it/, "the card says what to do next");
    await w.shot("room-failures");
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Leave room" }).click();
    w.assertClean();
  });
});
