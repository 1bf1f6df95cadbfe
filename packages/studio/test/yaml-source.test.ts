/**
 * The YAML editor keeps the user's text: a service saved from YAML comes back with its
 * comments and flow maps; once it is changed another way (the form), the editor shows YAML
 * generated from the stored service and says the comments were not kept.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "../../server/test/helpers.ts";
import { launchBrowser, signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { ensureStudioBuilt } from "./build.ts";

const TEXT = [
  "# the echo service: keep this comment",
  "version: v1",
  "kind: Service",
  "metadata:",
  "  name: echo   # and this one",
  "container:",
  "  image: example/echo:1",
  "  environment:",
  "    - { name: GREETING, value: hello }",
].join("\n");

test("a service saved from the YAML editor keeps its comments and flow maps; changed by the form, the editor says they were not kept", async (t) => {
  ensureStudioBuilt();
  const ts = await startTestServer();
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    await ts.close();
  });
  const key = (await ts.server.apiKeys.create("default", "yaml-source-test", Date.now())).key;
  const rest = async (path: string) => (await fetch(`${ts.url}/accounts/projects/default${path}`, { headers: { authorization: `Bearer ${key}` } })).json() as Promise<Record<string, unknown>>;
  const w = await watchedPage(browser, { expected: signedOutProbe });
  const { page } = w;
  const editorText = async () => (await page.locator(".cm-content .cm-line").allTextContents()).join("\n");
  await withFailureShot(w, "yaml-source", async () => {
    await signInWithKey(page, ts.url, key, "/services/new");
    await page.getByRole("tab", { name: "YAML" }).click();
    const editor = page.getByRole("textbox", { name: "Manifest" });
    await editor.click();
    await page.keyboard.press("Control+a");
    await page.keyboard.press("Delete");
    await editor.fill(TEXT);
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("starts at the next session of every room").waitFor();
    const id = (await rest("/services")).services as { id: string }[];
    assert.equal(id.length, 1);
    const src = await rest(`/services/${id[0]!.id}/source`);
    assert.deepEqual(src, { yaml: TEXT, revision: 1, current_revision: 1 });

    // A fresh page: the form first, then the YAML tab shows the user's own text.
    await page.reload();
    await page.getByLabel("Name", { exact: true }).waitFor();
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "echo");
    await page.getByRole("tab", { name: "YAML" }).click();
    await page.getByRole("textbox", { name: "Manifest" }).waitFor();
    const own = await editorText();
    assert.equal(own, TEXT, "the saved text, comments and flow map included");
    assert.equal(await page.getByRole("note").filter({ hasText: "not kept" }).count(), 0);
    await w.shot("yaml-source-kept");

    // Changed through the form: the text no longer describes the service.
    await page.getByRole("tab", { name: "Form" }).click();
    await page.getByLabel("Description").fill("changed by the form");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("The change applies at the next session").waitFor();
    await page.reload();
    await page.getByLabel("Name", { exact: true }).waitFor();
    await page.getByRole("tab", { name: "YAML" }).click();
    await page.getByRole("note").filter({ hasText: "comments and layout of that text were not kept" }).waitFor();
    const generated = await editorText();
    assert.doesNotMatch(generated, /keep this comment/);
    assert.match(generated, /description: changed by the form/);
    assert.match(generated, /GREETING/);
    assert.deepEqual(await rest(`/services/${id[0]!.id}/source`), { yaml: TEXT, revision: 1, current_revision: 2 });
    await w.shot("yaml-source-not-kept");
    w.assertClean();
  });
});
