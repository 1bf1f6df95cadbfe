/**
 * Issue #7 acceptance 1: the whole promise in a real browser against real containers.
 * Sign in, add a service through the form, join the room, watch it become ready, see a line
 * it prints in the log viewer, talk to an agent, edit an env var, leave and rejoin, see the new
 * value in effect, and open the ended session's timeline. Screenshots of every page.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv } from "./studio-env.ts";

const ROOM = "walk";

test("walk-through: sign in, add a service, join, ready, live logs, chat, edit env, rejoin, replay the session", async (t) => {
  const s = await startStudioEnv();
  t.after(() => s.close());
  // An agent beside the service under test, so the chat has someone to talk to.
  await s.env.addService(ROOM, manifest("agent", IMAGES.chat));

  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "walkthrough", async () => {
    await page.goto(s.url + "/rooms");
    await page.getByLabel("API key").waitFor();
    await w.shot("sign-in");
    await signInWithKey(page, s.url, s.apiKey, "/rooms");
    await page.getByRole("heading", { name: "Rooms", level: 1 }).waitFor();
    await w.shot("rooms-empty");

    // Add a service through the form.
    await page.goto(`${s.url}/rooms/${ROOM}/services/new`);
    await page.getByLabel("Name", { exact: true }).fill("reader");
    await page.getByLabel("Image", { exact: true }).fill(IMAGES.secret);
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.getByLabel("Variable 1 name").fill("API_KEY");
    await page.getByLabel("Variable 1 value").fill("first-value");
    await page.getByRole("button", { name: "Add port" }).click();
    await page.getByLabel("Port 1 number").fill("8081");
    await page.getByLabel("Port 1 liveness path").fill("/");
    await page.getByLabel("Memory limit").fill("96Mi");
    await page.getByLabel("CPU limit").fill("0.5");
    await w.shot("service-add-form");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText(`starts at the next session of room ${ROOM}`).waitFor();
    await w.shot("service-added");

    // Join the room in the browser; the service starts and becomes ready.
    await page.goto(`${s.url}/rooms/${ROOM}`);
    await page.getByRole("button", { name: "Join room" }).click();
    const card = page.getByRole("region", { name: "reader" });
    await card.getByText("ready", { exact: true }).waitFor({ timeout: 60_000 });
    // The line the service prints shows up in the log viewer.
    const log = page.getByRole("region", { name: "Logs" }).getByRole("log");
    await log.getByText("API_KEY from env is first-value").waitFor({ timeout: 30_000 });

    // Chat: the agent greets the room and answers in its thread (chat.test.ts has the details).
    const chat = page.getByRole("region", { name: "Chat" });
    await chat.getByText(`hello from ${ROOM}`).first().waitFor({ timeout: 60_000 });
    await chat.getByLabel("Thread with").selectOption({ label: "agent" });
    await chat.getByRole("textbox", { name: "Message" }).fill("ping");
    await chat.getByRole("button", { name: "Send" }).click();
    await chat.getByRole("list", { name: "Chat messages" }).getByText("you said: ping").waitFor({ timeout: 15_000 });
    // The server's view of who is here.
    await page.getByRole("region", { name: "Participants" }).getByText("studio-test", { exact: false }).first().waitFor();
    await page.getByRole("region", { name: "Events" }).getByText("Ready").first().waitFor();
    // Diagnostics: live samples with the limits set in the form drawn on the charts.
    const diag = page.getByRole("region", { name: "Diagnostics" });
    await diag.getByRole("img", { name: /^reader memory: \d[\d.]* [KMG]?i?B, limit 96 MiB$/ }).waitFor({ timeout: 30_000 });
    await diag.getByRole("img", { name: /^reader CPU: [\d.]+ % of a core, limit 0\.50 cores$/ }).waitFor({ timeout: 30_000 });
    await w.shot("room-live");

    // Edit the env var; the page says when it applies.
    await chat.getByRole("button", { name: "Leave room" }).click();
    await page.getByRole("link", { name: "Edit reader" }).click();
    const value = page.getByLabel("Variable 1 value");
    await value.waitFor();
    assert.equal(await value.inputValue(), "first-value");
    await value.fill("second-value");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("applies at the next session").waitFor();
    await w.shot("service-edited");

    // Rejoin after the first session ended: the new value is in effect.
    await page.goto(`${s.url}/rooms/${ROOM}`);
    await page.getByText("No live session").waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Join room" }).click();
    await log.getByText("API_KEY from env is second-value").waitFor({ timeout: 60_000 });
    await card.getByText("ready", { exact: true }).waitFor({ timeout: 60_000 });
    await w.shot("room-rejoined");
    await page.getByRole("region", { name: "Chat" }).getByRole("button", { name: "Leave room" }).click();
    await page.getByText("No live session").waitFor({ timeout: 30_000 });

    // Open the ended session: participants, timeline and kept logs.
    // Two sessions so far, newest first: open the one just ended.
    const recent = page.getByRole("region", { name: "Participants" }).getByRole("list").last().getByRole("link");
    await recent.nth(1).waitFor({ timeout: 15_000 });
    await recent.first().click();
    await page.getByRole("heading", { name: /^Session / }).waitFor();
    const events = page.getByRole("region", { name: "Events" });
    for (const reason of ["SessionStarted", "ParticipantJoined", "Started", "Ready", "SessionEnded"]) {
      await events.getByText(reason, { exact: true }).first().waitFor();
    }
    await page.getByRole("region", { name: "Logs" }).getByRole("log").getByText("API_KEY from env is second-value").waitFor();
    await page.getByRole("region", { name: "Participants" }).getByRole("cell", { name: /studio-test/ }).first().waitFor();
    await w.shot("session");

    // The remaining pages, and the room page at phone width.
    await page.goto(`${s.url}/rooms`);
    await page.getByRole("heading", { name: "Recent sessions" }).waitFor();
    await page.getByRole("link", { name: new RegExp(`Session of ${ROOM}`) }).first().waitFor({ timeout: 15_000 });
    await w.shot("rooms");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Services" }).click();
    await page.getByRole("heading", { name: "Project services" }).waitFor();
    await w.shot("services-project");
    await page.goto(`${s.url}/rooms/${ROOM}/services`);
    await page.getByRole("link", { name: "reader" }).waitFor();
    await w.shot("services-room");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Secrets" }).click();
    await page.getByRole("heading", { name: "Secrets", level: 1 }).waitFor();
    await w.shot("secrets");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${s.url}/rooms/${ROOM}`);
    await page.getByRole("region", { name: "reader" }).waitFor();
    await w.shot("room-phone");

    w.assertClean();
  });
});
