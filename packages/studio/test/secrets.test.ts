/**
 * Issue #7 acceptance 3: after a secret is saved, its value appears in no page, no network
 * response (REST, HTML, scripts, the SSE stream) and no screenshot. A screenshot shows the
 * DOM's text and the inputs' values, so both are searched at every screenshot.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, startStudioEnv } from "./studio-env.ts";

const ROOM = "vault";

test("a secret's value appears in no page, network response or screenshot after saving", async (t) => {
  const s = await startStudioEnv();
  t.after(() => s.close());
  const SECRET = `sv-${randomBytes(9).toString("hex")}`;
  const forms = [SECRET, Buffer.from(SECRET).toString("base64"), encodeURIComponent(SECRET)];
  // (and the 400 of the refused name below)
  const w = await watchedPage(s.browser, { expected: (url, status) => signedOutProbe(url, status) || (status === 400 && url === "/accounts/projects/default/secrets") });
  const { page } = w;
  await withFailureShot(w, "secrets", async () => {
    let shots = 0;
    const check = async (name: string) => {
      await w.shot(`secret-${name}`);
      shots++;
      const html = await page.content();
      const values = await page.$$eval("input, textarea, select", (els) => els.map((e) => (e as unknown as { value: string }).value));
      for (const f of forms) {
        assert.ok(!html.includes(f), `${name}: the page's HTML contains the secret`);
        assert.ok(!values.some((v) => v.includes(f)), `${name}: an input holds the secret`);
      }
    };

    await signInWithKey(page, s.url, s.apiKey, "/secrets");
    // A name the server refuses: the reason is shown, and what was typed stays to be corrected.
    await page.getByLabel("Secret name").fill("third party api key");
    await page.getByLabel("Secret value").fill(SECRET);
    await page.getByRole("button", { name: "Save secret" }).click();
    await page.getByRole("alert").getByText(/"third party api key" is invalid/).waitFor();
    assert.equal(await page.getByLabel("Secret name").inputValue(), "third party api key");
    assert.ok((await page.getByLabel("Secret value").inputValue()) !== "", "the value typed is kept too");
    await page.getByLabel("Secret name").fill("third-party-api-key");
    await page.getByRole("button", { name: "Save secret" }).click();
    await page.getByText("Its value cannot be shown again").waitFor();
    await page.getByRole("cell", { name: "third-party-api-key", exact: true }).waitFor();
    await check("saved");
    await page.reload();
    await page.getByRole("cell", { name: "third-party-api-key", exact: true }).waitFor();
    await check("secrets-reloaded");

    // A service that prints the secret (a mistake services make) — it must be masked.
    await page.goto(`${s.url}/rooms/${ROOM}/services/new`);
    await page.getByLabel("Name", { exact: true }).fill("reader");
    await page.getByLabel("Image", { exact: true }).fill(IMAGES.secret);
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.getByLabel("Variable 1 name").fill("API_KEY");
    await page.getByLabel("Variable 1 kind").selectOption("secret");
    await page.getByLabel("Variable 1 secret").fill("third-party-api-key");
    await page.getByRole("button", { name: "Add port" }).click();
    await page.getByLabel("Port 1 number").fill("8081");
    await page.getByLabel("Port 1 liveness path").fill("/");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText(`starts at the next session of room ${ROOM}`).waitFor();
    await check("service-saved");
    await page.getByRole("tab", { name: "YAML" }).click();
    await page.getByRole("textbox", { name: "Manifest" }).waitFor();
    await check("service-yaml");

    await page.goto(`${s.url}/rooms/${ROOM}`);
    await page.getByRole("button", { name: "Join room" }).click();
    await page.getByRole("region", { name: "reader" }).getByText("ready", { exact: true }).waitFor({ timeout: 60_000 });
    const line = page.getByRole("region", { name: "Logs" }).getByRole("log").getByText("API_KEY from env is");
    await line.waitFor({ timeout: 30_000 });
    await check("room-live");

    // The SSE stream as a client sees it (the page's copy is not readable from Playwright).
    const ctl = new AbortController();
    const res = await fetch(`${s.url}/accounts/projects/default/rooms/${ROOM}/stream`, { headers: { authorization: `Bearer ${s.apiKey}` }, signal: ctl.signal });
    assert.equal(res.status, 200);
    let sse = "";
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    while (!sse.includes("API_KEY from env is")) {
      const { value, done } = await reader.read();
      if (done) break;
      sse += decoder.decode(value, { stream: true });
    }
    ctl.abort();
    assert.match(sse, /API_KEY from env is/);
    for (const f of forms) assert.ok(!sse.includes(f), "the SSE stream carries the secret");

    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Leave room" }).click();
    await page.getByText("No live session").waitFor({ timeout: 30_000 });
    await page.goto(`${s.url}/rooms`);
    await page.getByRole("link", { name: new RegExp(`Session of ${ROOM}`) }).first().click();
    await page.getByRole("region", { name: "Logs" }).getByRole("log").getByText("API_KEY from env is").waitFor();
    await check("session");
    await page.goto(`${s.url}/rooms/${ROOM}/services`);
    await page.getByRole("link", { name: "reader" }).waitFor();
    await check("services");

    assert.ok(w.responses.length > 10, `responses were recorded (${w.responses.length})`);
    for (const r of w.responses) for (const f of forms) assert.ok(!r.body.includes(f), `response ${r.url} contains the secret`);
    assert.ok(shots >= 7);
    w.assertClean();
  });
});
