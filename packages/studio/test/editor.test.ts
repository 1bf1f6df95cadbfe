/**
 * Issue #7 acceptance 2: the YAML editor (labelled "Manifest") shows the server's located
 * validation error inline, on the line the error names.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "../../server/test/helpers.ts";
import { launchBrowser, signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { ensureStudioBuilt } from "./build.ts";

const BAD = [
  "version: v1",
  "kind: Service",
  "metadata:",
  "  name: broken",
  "container:",
  "  image: example/x:1",
  "  comand: run --fast",
  "ports:",
  "  - num: 8080",
].join("\n");

test("the YAML editor shows a located validation error at the right line, and Save refuses it", async (t) => {
  ensureStudioBuilt();
  const ts = await startTestServer();
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    await ts.close();
  });
  const key = (await ts.server.apiKeys.create("default", "editor-test", Date.now())).key;
  const w = await watchedPage(browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "editor", async () => {
    await signInWithKey(page, ts.url, key, "/services/new");
    await page.getByRole("tab", { name: "YAML" }).click();
    const editor = page.getByRole("textbox", { name: "Manifest" });
    await editor.click();
    await page.keyboard.press("Control+a");
    await page.keyboard.press("Delete");
    await editor.fill(BAD);

    // The lint underline sits in line 7, the line the server names.
    const mark = page.locator(".cm-line:has(.cm-lintRange-error)");
    await mark.first().waitFor({ timeout: 15_000 });
    assert.equal(await mark.count(), 1);
    assert.equal((await mark.first().textContent())?.trim(), "comand: run --fast");
    const lines = await page.locator(".cm-content .cm-line").allTextContents();
    assert.equal(lines.findIndex((l) => l.includes("comand")), 6, "the error is on line 7");
    await w.shot("editor-yaml-error");

    // Save refuses and lists the error with its line and field.
    await page.getByRole("button", { name: "Save" }).click();
    const list = page.getByRole("list", { name: "Manifest errors" });
    await list.waitFor();
    assert.match((await list.textContent()) ?? "", /Line 7, column 3: container\.comand: unknown field/);
    await w.shot("editor-yaml-save-refused");

    // Nothing was stored.
    const res = await fetch(`${ts.url}/accounts/projects/default/services`, { headers: { authorization: `Bearer ${key}` } });
    assert.deepEqual(((await res.json()) as { services: unknown[] }).services, []);

    // Fixing the line clears the error, and the manifest saves.
    await page.locator(".cm-line", { hasText: "comand" }).click();
    await page.keyboard.press("End");
    await page.keyboard.press("Shift+Home");
    await page.keyboard.type("command: run --fast");
    await page.locator(".cm-lintRange-error").waitFor({ state: "detached", timeout: 15_000 });
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("starts at the next session of every room").waitFor();
    await w.shot("editor-yaml-saved");

    // The form's Save sits at the foot of the page: a refusal (here 409, the name is taken)
    // is brought into view instead of appearing, unseen, at the head.
    await page.setViewportSize({ width: 1000, height: 420 });
    await page.goto(`${ts.url}/services/new`);
    await page.getByLabel("Name", { exact: true }).fill("broken");
    await page.getByLabel("Image", { exact: true }).fill("example/web:1");
    await page.getByRole("button", { name: "Save" }).scrollIntoViewIfNeeded();
    await page.getByRole("button", { name: "Save" }).click();
    const refusal = page.getByRole("alert").filter({ hasText: "already exists" });
    await refusal.waitFor();
    // (a string: this file is typechecked without the DOM's types)
    await page.waitForFunction(`(() => {
      const el = [...document.querySelectorAll('[role="alert"]')].find((e) => e.textContent.includes("already exists"));
      const r = el?.getBoundingClientRect();
      return r !== undefined && r.top >= 0 && r.bottom <= window.innerHeight;
    })()`, undefined, { timeout: 5000 });
    await w.shot("editor-form-refusal-in-view");
    await page.setViewportSize({ width: 1280, height: 800 });

    // The list: disable, enable, delete with confirmation.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Services" }).click();
    // The edit count, not the manifest's format version ("v1" once showed as "vv1").
    await page.getByRole("cell", { name: "rev 1", exact: true }).waitFor();
    await page.getByRole("button", { name: "Disable broken" }).click();
    await page.getByText("broken disabled; this applies at the next session.").waitFor();
    await page.getByRole("cell", { name: "disabled" }).waitFor();
    const stored = await fetch(`${ts.url}/accounts/projects/default/services`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(((await stored.json()) as { services: { enabled?: boolean }[] }).services[0]!.enabled, false);
    await page.getByRole("button", { name: "Enable broken" }).click();
    await page.getByRole("cell", { name: "enabled" }).waitFor();
    await page.getByRole("button", { name: "Delete broken…" }).click();
    await w.shot("services-confirm-delete");
    await page.getByRole("button", { name: "Delete broken", exact: true }).click();
    await page.getByText("No services yet.").waitFor();
    w.assertClean((s) => /409: POST .*\/services$/.test(s)); // the refused duplicate above
  });
});
