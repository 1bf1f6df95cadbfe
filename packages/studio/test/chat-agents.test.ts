/**
 * Who Studio's chat offers, and when a thread comes to exist, in Chromium against real
 * containers: the chat agent (it advertises chat, docs/chat.md) is offered and the pipeline (a
 * messaging agent that never answers a thread) is not; opening the agent's thread writes
 * nothing — `.threads/agent-studio-test.thread` exists only once the first message is sent.
 * The signed-in user is shown by their participant name ("studio-test", not the API key's
 * identity "apikey:studio-test") in the header, the join prompt and the chat. A spoken reply
 * (the voice example's "🔊 " prefix) is drawn with an icon, not the emoji character.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseManifest } from "@roomservice/manifest";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv, waitUntil } from "./studio-env.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

const ROOM = "agents";
const THREAD = ".threads/agent-studio-test.thread";
// The SDK logs every document change it applies.
quietDocumentChangeLog();

/** The pipeline example's own manifest with the test's image tag: an agent that does not chat. */
function pipelineManifest(): Record<string, unknown> {
  const file = fileURLToPath(new URL("../../../examples/pipeline/meshagent.yaml", import.meta.url));
  const r = parseManifest(readFileSync(file, "utf8"), { filename: file });
  if (!r.ok) throw new Error(`examples/pipeline/meshagent.yaml is invalid: ${JSON.stringify(r.errors)}`);
  const m = structuredClone(r.raw) as { container: { image: string } };
  m.container.image = IMAGES.pipeline;
  return m as unknown as Record<string, unknown>;
}

test("chat: only agents that chat are offered; a thread's file is created by the first message; the user is shown by participant name; spoken replies get an icon", { timeout: 240_000 }, async (t) => {
  const s = await startStudioEnv();
  t.after(() => s.close());
  await s.env.addService(ROOM, manifest("agent", IMAGES.chat));
  await s.env.addService(ROOM, pipelineManifest());
  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "chat-agents", async () => {
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    // The participant name, everywhere: header, join prompt, chat head.
    await page.getByRole("banner").getByText("studio-test", { exact: true }).waitFor();
    const chat = page.getByRole("region", { name: "Chat" });
    await chat.getByText("Join the room as studio-test to see who is here").waitFor();
    assert.equal(await page.getByText(/apikey:/).count(), 0, "the API key's identity is not shown as the user's name");
    await w.shot("chat-agents-join-prompt");
    await chat.getByRole("button", { name: "Join room" }).click();
    await chat.getByText("as studio-test", { exact: false }).first().waitFor();

    // Both agents are here (the people list shows everyone); only the chat agent is offered.
    const people = chat.getByRole("list", { name: "People in chat" });
    await people.getByText("pipeline").waitFor({ timeout: 90_000 });
    await chat.getByLabel("Thread with").locator("option", { hasText: "agent" }).waitFor({ state: "attached", timeout: 90_000 });
    assert.deepEqual(await chat.getByLabel("Thread with").locator("option").allTextContents(), ["agent"]);

    // The thread is shown, empty and ready, and nothing was written for it.
    await chat.getByText(THREAD).waitFor();
    const lines = chat.getByRole("list", { name: "Chat messages" });
    await lines.getByText("No messages yet").waitFor({ timeout: 15_000 });
    assert.equal(await chat.getByText("is not in the room").count(), 0, "the agent is here (not yet a member of a thread that does not exist)");
    await chat.getByRole("textbox", { name: "Message" }).waitFor({ state: "visible" });
    assert.ok(await chat.getByRole("textbox", { name: "Message" }).isEnabled());
    const reader = await s.env.ts.client(ROOM, "reader");
    const exists = async () => (await reader.storage.exists(THREAD)) as boolean;
    assert.equal(await exists(), false, "opening a thread does not create its file");
    await w.shot("chat-agents-new-thread");

    // The first message creates it; the agent answers.
    await chat.getByRole("textbox", { name: "Message" }).fill("hello agent");
    await chat.getByRole("button", { name: "Send" }).click();
    await lines.locator('li[data-author="agent"]').getByText("you said: hello agent", { exact: true }).waitFor({ timeout: 30_000 });
    await waitUntil("the thread's file", exists, 10_000);
    assert.deepEqual(await lines.locator("li").locator(".from").allTextContents(), ["you", "agent"]);
    // The agent's log says what it does, not every document change its SDK applied.
    assert.equal(await page.getByRole("region", { name: "Logs" }).getByText(/Applying changes to doc/).count(), 0);

    // A spoken reply (the voice example's wire format, written here through the SDK) shows a
    // speaker icon in place of the emoji.
    const doc = await reader.sync.open(THREAD);
    await waitUntil("the reply in the reader's copy", () => (doc.root.getChildren().find((c: any) => c.tagName === "messages")?.getChildren().length ?? 0) === 2, 10_000);
    doc.root.getChildren().find((c: any) => c.tagName === "messages").createChildElement("message", {
      id: "spoken-1", text: "\u{1F50A} good morning everyone", created_at: new Date().toISOString(), author_name: "reader", author_ref: null,
    });
    const spoken = lines.locator('li[data-author="reader"] .text');
    await spoken.waitFor({ timeout: 10_000 });
    assert.equal(await spoken.locator("svg.icon").count(), 1, "a speaker icon");
    // (screen readers hear "spoken:" before it)
    assert.equal((await spoken.textContent())?.replace("spoken:", "").trim(), "good morning everyone", "the text without the emoji");
    assert.ok(!(await lines.innerText()).includes("\u{1F50A}"), "no emoji character on the page");
    await reader.sync.close(THREAD);
    await w.shot("chat-agents-spoken");
    await chat.getByRole("button", { name: "Leave room" }).click();
    w.assertClean();
  });
});
