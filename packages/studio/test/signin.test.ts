/**
 * Sign-in: by keyboard with an API key (a wrong key is refused with a message), the key never
 * reaches page storage or a script-readable cookie; the one-click `?login=` URL works once
 * and leaves the address bar; the navigation is keyboard reachable; sign out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer } from "../../server/test/helpers.ts";
import { launchBrowser, watchedPage, withFailureShot } from "./browser.ts";
import { ensureStudioBuilt } from "./build.ts";

test("sign-in by keyboard, one-time login links, keyboard navigation, sign out", async (t) => {
  ensureStudioBuilt();
  const ts = await startTestServer();
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    await ts.close();
  });
  const key = (await ts.server.apiKeys.create("default", "keyboard", Date.now())).key;
  // Expected refusals: the signed-out probe, the wrong key, the reused login code.
  const expected = (url: string, status: number) => url === "/auth/session" && status === 401;
  const w = await watchedPage(browser, { expected });
  const { page } = w;
  await withFailureShot(w, "signin", async () => {
    await page.goto(`${ts.url}/secrets`);
    const field = page.getByLabel("API key");
    await field.waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id), "api-key", "the key field has focus");
    await page.keyboard.type("rsk_00000000000000000000000000000000_wrong");
    await page.keyboard.press("Enter");
    await page.getByRole("alert").waitFor();
    await w.shot("sign-in-refused");
    await field.fill("");
    await page.keyboard.type(key);
    await page.keyboard.press("Enter");
    // Signed in where the link pointed.
    await page.getByRole("heading", { name: "Secrets", level: 1 }).waitFor();
    const stored = await page.evaluate(() => {
      const g = globalThis as unknown as { localStorage: { length: number }; sessionStorage: { length: number }; document: { cookie: string } };
      return { local: g.localStorage.length, session: g.sessionStorage.length, cookie: g.document.cookie };
    });
    assert.deepEqual(stored, { local: 0, session: 0, cookie: "" }, "no key or session readable by scripts");
    const cookies = await w.context.cookies();
    const rs = cookies.find((c) => c.name === "rs_session");
    assert.ok(rs && rs.httpOnly && rs.sameSite === "Strict");
    assert.ok(!cookies.some((c) => c.value.includes(key)));

    // Keyboard: the skip link first, then the brand and the navigation.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document.activeElement.textContent), "Skip to content");
    let reached = false;
    for (let i = 0; i < 5 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = (await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { textContent: string } } }).document.activeElement.textContent)) === "Services";
    }
    assert.ok(reached, "the Services link is reachable by Tab");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Project services" }).waitFor();

    // Sign out: back to the sign-in form.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();

    // The one-click URL `serve` prints: signs in, and the code leaves the address bar.
    const code = ts.server.issueLoginCode();
    await page.goto(`${ts.url}/?login=${encodeURIComponent(code)}`);
    await page.getByRole("heading", { name: "Rooms", level: 1 }).waitFor();
    assert.ok(!page.url().includes("login="), page.url());
    await w.shot("sign-in-link");
    // It works once.
    const other = await watchedPage(browser, { expected });
    await other.page.goto(`${ts.url}/rooms?login=${encodeURIComponent(code)}`);
    await other.page.getByRole("alert").getByText("That sign-in link did not work").waitFor();
    await other.page.getByLabel("API key").waitFor();
    assert.ok(!other.page.url().includes("login="));
    other.assertClean();
    await other.context.close();
    w.assertClean();
  });
});
