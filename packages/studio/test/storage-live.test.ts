/**
 * The Storage panel follows every writer of the room's files, in Chromium against a real
 * service container: a participant's SDK upload; a service writing through its storage mount
 * — here the implicit `/data` every agent-template service gets (its manifest declares no
 * storage); the server saving a sync document (`notes/plan.thread`, as it saves `.threads/…`)
 * and seeding `.schemas/thread.json`; a participant's delete. The service's burst of 3,000
 * files shows as its folder, which renders 500 rows at a time (a huge folder must not hang
 * the page).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv } from "./studio-env.ts";

const ROOM = "files";
const BULK = 3000;
// Waits for /data/make (its text: how many files), then writes bulk/f-00001.txt… and
// made.txt through the mount, and deletes make — a service's outputs appearing and its
// input going away.
const SCRIPT = `
const fs = require("node:fs");
console.log("watching /data/make");
setInterval(() => {
  let n;
  try { n = Number(fs.readFileSync("/data/make", "utf8")); } catch { return; }
  fs.mkdirSync("/data/bulk", { recursive: true });
  for (let i = 1; i <= n; i++) fs.writeFileSync("/data/bulk/f-" + String(i).padStart(5, "0") + ".txt", "file " + i + "\\n");
  fs.writeFileSync("/data/made.txt", "made " + n + " files\\n");
  fs.unlinkSync("/data/make");
  console.log("made " + n);
}, 100);
`;

test("storage panel: follows uploads, a service's writes through its mount, documents the server saves; a folder of 3,000 files renders 500 rows at a time", { timeout: 240_000 }, async (t) => {
  const s = await startStudioEnv();
  t.after(() => s.close());
  await s.env.addService(ROOM, manifest("writer", IMAGES.http, { container: { image: IMAGES.http, command: ["node", "-e", SCRIPT] } }));
  const t0 = Date.now();
  const step = (what: string) => t.diagnostic(`${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "storage-live", async () => {
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Join room" }).click();
    const storage = page.getByRole("region", { name: "Storage" });
    const files = storage.getByRole("table");
    const row = (name: string) => files.getByRole("row").filter({ has: page.getByRole("cell", { name, exact: true }) });
    const folderRow = (name: string) => files.getByRole("button", { name, exact: true });
    // The thread schema the server seeds as the session starts (the panel may have listed the
    // root before it was written: then its storage event brings it).
    await folderRow(".schemas").waitFor({ timeout: 30_000 });
    await page.getByRole("region", { name: "writer" }).getByText("ready", { exact: true }).waitFor({ timeout: 60_000 });
    await page.getByRole("region", { name: "Logs" }).getByText("watching /data/make").waitFor({ timeout: 30_000 });

    // Another participant uploads through the SDK: the file appears.
    const reader = await s.env.ts.client(ROOM, "reader");
    await reader.storage.upload("make", new TextEncoder().encode(String(BULK)), { overwrite: true });
    // The service takes it: writes bulk/ and made.txt through its mount and deletes make.
    await row("made.txt").waitFor({ timeout: 60_000 });
    await folderRow("bulk").waitFor();
    await row("make").waitFor({ state: "detached", timeout: 30_000 });
    step("the service's files shown");
    await w.shot("storage-live-root");

    // A folder of 3,000 files: 500 rows, and more on request.
    await folderRow("bulk").click();
    const status = storage.getByRole("status").filter({ hasText: /^Showing / });
    await status.getByText(`Showing 500 of ${BULK.toLocaleString("en-US")} entries.`).waitFor();
    assert.equal(await files.locator("tbody tr").count(), 500);
    await status.getByRole("button", { name: "Show 500 more" }).click();
    await status.getByText(`Showing 1,000 of ${BULK.toLocaleString("en-US")} entries.`).waitFor();
    assert.equal(await files.locator("tbody tr").count(), 1000);
    assert.equal((await files.locator("tbody tr").first().getByRole("cell").first().textContent())?.trim(), "f-00001.txt");
    await w.shot("storage-live-bulk");
    step("the folder of 3,000");
    await storage.getByRole("navigation", { name: "Folder" }).getByRole("button", { name: "/", exact: true }).click();
    await folderRow("bulk").waitFor();

    // A document the server saves (a sync document, as every chat thread is): its folder appears.
    const doc = await reader.sync.open("notes/plan.thread", { create: true });
    const members = doc.root.getChildren().find((c: any) => c.tagName === "members") ?? doc.root.createChildElement("members", {});
    members.createChildElement("member", { name: "reader" });
    await folderRow("notes").waitFor({ timeout: 30_000 });
    await folderRow("notes").click();
    await row("plan.thread").waitFor();
    await reader.sync.close("notes/plan.thread");
    await w.shot("storage-live-document");
    step("the saved document shown");

    // Deleted by another participant while on screen: the row goes.
    await storage.getByRole("navigation", { name: "Folder" }).getByRole("button", { name: "/", exact: true }).click();
    await row("made.txt").waitFor();
    await reader.storage.delete("made.txt");
    await row("made.txt").waitFor({ state: "detached", timeout: 30_000 });
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Leave room" }).click();
    w.assertClean();
  });
});
