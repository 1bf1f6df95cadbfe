/**
 * What a newcomer met on a fresh clone: room secrets nowhere in Studio, form errors not on
 * their fields, a room with an invalid name "reconnecting" forever, raw JSON for unknown
 * pages, "Loading…" after an error, and a disabled service offering Restart.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv, type StudioEnv } from "./studio-env.ts";

let s: StudioEnv;
before(async () => {
  s = await startStudioEnv();
});
after(() => s?.close());

const b64 = (v: string) => Buffer.from(v).toString("base64");

test("room secrets: listed with their room on the Secrets page; added, replaced and deleted on the room page; values never shown", async () => {
  const ROOM = "demo";
  const FIRST = `rv-${randomBytes(9).toString("hex")}`;
  const SECOND = `rv-${randomBytes(9).toString("hex")}`;
  await s.rest("POST", `/accounts/projects/default/rooms/${ROOM}/secrets`, { name: "crm-api-key", type: "opaque", data_base64: b64("crm-value") });
  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "newcomer-room-secrets", async () => {
    const noValues = async (name: string) => {
      const html = await page.content();
      const values = await page.$$eval("input", (els) => els.map((e) => (e as unknown as { value: string }).value));
      for (const v of [FIRST, SECOND, "crm-value"]) {
        assert.ok(!html.includes(v), `${name}: the page shows a secret's value`);
        assert.ok(!values.some((x) => x.includes(v)), `${name}: an input keeps a secret's value`);
      }
    };
    await signInWithKey(page, s.url, s.apiKey, "/secrets");
    const rooms = page.getByRole("region", { name: "Room secrets" });
    const row = rooms.getByRole("row").filter({ hasText: "crm-api-key" });
    await row.getByRole("link", { name: ROOM }).waitFor();
    await w.shot("newcomer-secrets-page");
    await noValues("secrets page");

    await row.getByRole("link", { name: ROOM }).click();
    const panel = page.getByRole("region", { name: "Room secrets" });
    await panel.getByRole("cell", { name: "crm-api-key", exact: true }).waitFor();
    await panel.getByLabel("Room secret name").fill("room-token");
    await panel.getByLabel("Room secret value").fill(FIRST);
    await panel.getByRole("button", { name: "Save room secret" }).click();
    await panel.getByText("Room secret room-token saved").waitFor();
    await panel.getByRole("cell", { name: "room-token", exact: true }).waitFor();
    const inRoom = await s.rest<{ secrets: { name: string }[] }>("GET", `/accounts/projects/default/rooms/${ROOM}/secrets`);
    assert.deepEqual(inRoom.secrets.map((x) => x.name).sort(), ["crm-api-key", "room-token"]);
    const inProject = await s.rest<{ secrets: { name: string }[] }>("GET", "/accounts/projects/default/secrets");
    assert.ok(!inProject.secrets.some((x) => x.name === "room-token"), "saved as a room secret, not a project one");
    assert.equal((await s.env.ts.server.secrets.resolveValue("default", ROOM, "room-token"))?.toString(), FIRST);
    await w.shot("newcomer-room-secret-saved");
    await noValues("room secret saved");

    await panel.getByRole("button", { name: "Replace value of room-token" }).click();
    await panel.getByLabel("New value for room-token").fill(SECOND);
    await panel.getByRole("button", { name: "Update" }).click();
    await panel.getByText("Room secret room-token updated").waitFor();
    assert.equal((await s.env.ts.server.secrets.resolveValue("default", ROOM, "room-token"))?.toString(), SECOND);
    await noValues("room secret replaced");

    await panel.getByRole("button", { name: "Delete secret room-token…" }).click();
    await panel.getByRole("button", { name: "Delete room-token" }).click();
    await panel.getByText("Room secret room-token deleted").waitFor();
    await panel.getByRole("cell", { name: "room-token", exact: true }).waitFor({ state: "detached" });
    assert.equal(await s.env.ts.server.secrets.resolveValue("default", ROOM, "room-token"), undefined);
    await w.shot("newcomer-room-secret-deleted");
    for (const r of w.responses) for (const v of [FIRST, SECOND, "crm-value", b64(FIRST), b64(SECOND)]) assert.ok(!r.body.includes(v), `response ${r.url} carries a secret`);
    w.assertClean();
  });
});

test("service form: each server error is on its field (aria-invalid, inline message, first one focused); port boxes take digits only", async () => {
  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "newcomer-form-errors", async () => {
    await signInWithKey(page, s.url, s.apiKey, "/rooms/forms/services/new");
    await page.getByLabel("Name", { exact: true }).fill("Form Svc");
    await page.getByLabel("Image", { exact: true }).fill(IMAGES.http);
    await page.getByRole("button", { name: "Add port" }).click();
    const port = page.getByLabel("Port 1 number");
    // (strings: this file is typechecked without the DOM's types; React re-renders the box
    // after the input event, so wait for the value it settles on)
    const settles = (v: string) => page.waitForFunction(`document.getElementById("f-port-0-num").value === ${JSON.stringify(v)}`, undefined, { timeout: 5000 });
    await port.fill("abc");
    await settles("");
    assert.equal(await port.inputValue(), "", "the port box refuses letters");
    await port.fill("80a8");
    await settles("808");
    assert.equal(await port.inputValue(), "808");
    await port.fill("");
    await page.getByLabel("Port 1 liveness path").fill("healthz");
    await page.getByLabel("Memory limit").fill("256m");
    await page.getByLabel("CPU limit").fill("lots");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("list", { name: "Manifest errors" }).waitFor();

    const expectations: [string, RegExp][] = [
      ["f-name", /not a valid name/],
      ["f-port-0-num", /port number/],
      ["f-port-0-liveness", /must start with "\/"/],
      ["f-mem", /256Mi/],
      ["f-cpu", /not a CPU amount/],
    ];
    for (const [id, text] of expectations) {
      const input = page.locator(`#${id}`);
      assert.equal(await input.getAttribute("aria-invalid"), "true", `${id} is marked invalid`);
      const by = (await input.getAttribute("aria-describedby")) ?? "";
      const described = await page.evaluate((ids) => ids.split(" ").map((i) => (globalThis as unknown as { document: { getElementById(i: string): { textContent: string } | null } }).document.getElementById(i)?.textContent ?? "").join(" "), by);
      assert.match(described, text, `${id}'s message is linked to it`);
    }
    assert.equal(await page.locator("#f-image").getAttribute("aria-invalid"), null, "a valid field is not marked");
    // Focus moves in an effect after the errors render: wait for it.
    await page.locator("#f-name:focus").waitFor();
    await w.shot("newcomer-form-errors");

    // Fixing a field and saving again clears its mark.
    await page.getByLabel("Name", { exact: true }).fill("form-svc");
    await page.getByRole("button", { name: "Save" }).click();
    // The second answer's list (the errors are cleared while it is asked for).
    await page.getByRole("list", { name: "Manifest errors" }).filter({ hasNotText: "metadata.name" }).filter({ hasText: "resources.memory" }).waitFor();
    assert.equal(await page.locator("#f-name").getAttribute("aria-invalid"), null);
    assert.equal(await page.locator("#f-mem").getAttribute("aria-invalid"), "true");
    w.assertClean((e) => /HTTP 400: POST .*\/services$/.test(e));
  });
});

test("a room name the server refuses: said before navigating; the room page shows the stream's refusal instead of reconnecting", async () => {
  const bad = (url: string, status: number) => signedOutProbe(url, status) || (status === 400 && url.includes("/rooms/Bad"));
  const w = await watchedPage(s.browser, { expected: bad });
  const { page } = w;
  await withFailureShot(w, "newcomer-bad-room", async () => {
    await signInWithKey(page, s.url, s.apiKey, "/rooms");
    await page.getByLabel("Room name").fill("Bad Room!");
    await page.getByRole("button", { name: "Open room" }).click();
    await page.getByRole("alert").filter({ hasText: "invalid room name" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/rooms", "it did not navigate");
    assert.equal(await page.getByLabel("Room name").getAttribute("aria-invalid"), "true");
    await w.shot("newcomer-bad-room-name");

    await page.goto(`${s.url}/rooms/${encodeURIComponent("Bad Room!")}`);
    await page.getByRole("alert").filter({ hasText: "The server refused this room: invalid room name" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Join room" }).count(), 0, "no Join for a room that cannot exist");
    assert.equal(await page.getByRole("link", { name: "Add service" }).count(), 0);
    assert.equal(await page.getByText("reconnecting").count(), 0);
    await w.shot("newcomer-bad-room-page");
    w.assertClean();
  });
});

test("unknown paths: a browser gets Studio's page-not-found; API clients get {error, code} JSON", async () => {
  for (const path of ["/foo", "/rooms/x/whatever"]) {
    const res = await fetch(s.url + path, { headers: { accept: "text/html,application/xhtml+xml" } });
    assert.equal(res.status, 404, path);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/, path);
    assert.match(await res.text(), /<div id="root">/, `${path}: the app's page`);
  }
  for (const [path, accept] of [["/foo", "application/json"], ["/accounts/projects/default/nope", "text/html"], ["/auth/nope", "text/html"]] as const) {
    const res = await fetch(s.url + path, { headers: { accept, authorization: `Bearer ${s.apiKey}` } });
    assert.equal(res.status, 404, path);
    const body = (await res.json()) as { error: string; code: string };
    assert.equal(body.code, "not_found", path);
    assert.match(body.error, /no such route/, path);
  }
  const notFound = (url: string, status: number) => signedOutProbe(url, status) || (status === 404 && ["/foo", "/rooms/x/whatever"].includes(url));
  const w = await watchedPage(s.browser, { expected: notFound });
  const { page } = w;
  await withFailureShot(w, "newcomer-not-found", async () => {
    await signInWithKey(page, s.url, s.apiKey, "/foo");
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
    await page.goto(`${s.url}/rooms/x/whatever`);
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
    await w.shot("newcomer-not-found");
    w.assertClean();
  });
});

test("a page whose data failed to load shows the error and stops saying Loading…", async () => {
  const missing = (url: string, status: number) => signedOutProbe(url, status) || (status === 404 && /\/(services|sessions)\/bogus-id/.test(url));
  const w = await watchedPage(s.browser, { expected: missing });
  const { page } = w;
  await withFailureShot(w, "newcomer-load-error", async () => {
    // Signed in on a page that loads no code on demand: leaving one whose chunk is still
    // loading would abort that request.
    await signInWithKey(page, s.url, s.apiKey, "/rooms");
    for (const path of ["/services/bogus-id", "/rooms/lost/services/bogus-id", "/rooms/lost/sessions/bogus-id"]) {
      await page.goto(s.url + path);
      await page.getByRole("alert").filter({ hasText: /not found/ }).waitFor();
      assert.equal(await page.getByText("Loading…").count(), 0, `${path}: still says Loading… after its error`);
      assert.equal(await page.locator("[aria-busy=true]").count(), 0, `${path}: still busy after its error`);
    }
    await w.shot("newcomer-load-error");
    w.assertClean();
  });
});

test("a disabled service's card says disabled, and Restart is off with the reason, in a live session", async () => {
  const ROOM = "quiet";
  await s.env.addService(ROOM, manifest("sleeper", IMAGES.http, { enabled: false }));
  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "newcomer-disabled", async () => {
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    const card = page.getByRole("region", { name: "sleeper" });
    await card.getByText("disabled", { exact: true }).waitFor();
    await page.getByRole("button", { name: "Join room" }).click();
    await page.getByText(/ · up /).waitFor({ timeout: 30_000 });
    const restart = card.getByRole("button", { name: "Restart" });
    assert.equal(await restart.isDisabled(), true, "Restart is off for a disabled service in a live session");
    assert.match((await restart.getAttribute("title")) ?? "", /Disabled/);
    assert.equal(await card.getByText("disabled", { exact: true }).count(), 1);
    await w.shot("newcomer-disabled-card");
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Leave room" }).click();
    await page.getByText("No live session").waitFor({ timeout: 30_000 });
    w.assertClean();
  });
});
