/**
 * Studio's chat is a thread-document chat (docs/chat.md), tested in Chromium against the real
 * chat-agent example container: Studio opens `.threads/<agent>-<user>.thread`, lists itself and
 * the agent as members, appends the user's message and notifies the agent; the agent's reply
 * (streamed into the document, with busy status meanwhile) appears in the page, and the
 * document read back through the SDK holds both. Another participant's message and attachment,
 * written through the SDK, appear live; a file attached in the page lands in the document;
 * after a reload and rejoin the thread shows its history again.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { signInWithKey, signedOutProbe, watchedPage, withFailureShot } from "./browser.ts";
import { IMAGES, manifest, startStudioEnv, waitUntil } from "./studio-env.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

const ROOM = "threads";
// The SDK logs every document change it applies.
quietDocumentChangeLog();

/** [author, text, files] of every message of a thread document opened through the SDK. */
function messagesOf(doc: any): [string, string, string[]][] {
  const list = doc.root.getChildren().find((c: any) => c.tagName === "messages")?.getChildren() ?? [];
  return list.map((m: any) => [m.getAttribute("author_name"), m.getAttribute("text"), m.getChildren().filter((f: any) => f.tagName === "file").map((f: any) => f.getAttribute("path"))]);
}

test("chat: a thread document with the real chat agent — reply in the page and in the document, live updates, attachments, history", { timeout: 240_000 }, async (t) => {
  const s = await startStudioEnv();
  t.after(() => s.close());
  // Slow words, so the agent's busy status is on screen long enough to be seen.
  await s.env.addService(ROOM, manifest("agent", IMAGES.chat, { container: { image: IMAGES.chat, environment: [{ name: "WORD_DELAY_MS", value: "400" }] } }));
  // The participant name is the API key's name (the page shows it as "as studio-test").
  const me = "studio-test";
  const path = ".threads/agent-studio-test.thread";

  const w = await watchedPage(s.browser, { expected: signedOutProbe });
  const { page } = w;
  await withFailureShot(w, "chat", async () => {
    await signInWithKey(page, s.url, s.apiKey, `/rooms/${ROOM}`);
    const chat = page.getByRole("region", { name: "Chat" });
    await chat.getByRole("button", { name: "Join room" }).click();
    // The agent arrives; its thread opens (the path is shown).
    await chat.getByLabel("Thread with").locator("option", { hasText: "agent" }).waitFor({ state: "attached", timeout: 90_000 });
    await chat.getByText(path).waitFor();
    const lines = chat.getByRole("list", { name: "Chat messages" });
    await lines.getByText("No messages yet").waitFor({ timeout: 15_000 });
    // Outside the thread: the agent's greeting to the room.
    await chat.getByRole("list", { name: "Room messages" }).getByText(`hello from ${ROOM}`).first().waitFor({ timeout: 30_000 });

    await chat.getByRole("textbox", { name: "Message" }).fill("hello agent");
    await chat.getByRole("button", { name: "Send" }).click();
    await lines.locator("li.mine").getByText("hello agent").waitFor();
    // The agent works on it (its thread.status attribute), then its reply is complete.
    await chat.getByText("agent: Thinking…").waitFor({ timeout: 30_000 });
    const reply = lines.locator('li[data-author="agent"]');
    await reply.getByText("you said: hello agent", { exact: true }).waitFor({ timeout: 30_000 });
    await chat.getByText("agent: Thinking…").waitFor({ state: "detached", timeout: 15_000 });
    await w.shot("chat-thread");

    // The same thread, read back through the SDK by another participant.
    const reader = await s.env.ts.client(ROOM, "reader");
    const doc = await reader.sync.open(path);
    await waitUntil("the reply in the reader's copy", () => messagesOf(doc).length === 2, 10_000);
    assert.deepEqual(messagesOf(doc), [[me, "hello agent", []], ["agent", "you said: hello agent", []]]);
    const members = doc.root.getChildren().find((c: any) => c.tagName === "members").getChildren().map((m: any) => [m.getAttribute("name"), m.getAttribute("type")]);
    // Each member by name (Studio and the agent may both add a missing one at the same moment;
    // the CRDT keeps both inserts, and readers list a name once).
    const unique = [...new Map(members.map((m: string[]) => [m[0], m])).values()];
    assert.deepEqual(unique.sort(), [["agent", "agent"], [me, "user"]]);

    // Live: a message with an attachment written through the SDK shows in the page at once.
    await reader.storage.upload("notes/plan.txt", new TextEncoder().encode("the plan"));
    const list = doc.root.getChildren().find((c: any) => c.tagName === "messages");
    const m = list.createChildElement("message", { id: "r1", text: "see my notes", created_at: new Date().toISOString(), author_name: "reader", author_ref: null });
    m.createChildElement("file", { path: "notes/plan.txt" });
    const fromReader = lines.locator('li[data-author="reader"]');
    await fromReader.getByText("see my notes").waitFor({ timeout: 10_000 });
    const [download] = await Promise.all([page.waitForEvent("download"), fromReader.getByRole("button", { name: "Download plan.txt" }).click()]);
    assert.equal(await readFile((await download.path())!, "utf8"), "the plan");

    // A file attached in the page is uploaded and sent with the message; the agent answers.
    await chat.getByLabel("Attach files").setInputFiles({ name: "report.txt", mimeType: "text/plain", buffer: Buffer.from("numbers") });
    await chat.getByRole("list", { name: "Attachments to send" }).getByText("report.txt").waitFor();
    await chat.getByRole("textbox", { name: "Message" }).fill("see attached");
    await chat.getByRole("button", { name: "Send" }).click();
    await lines.locator("li.mine").getByRole("button", { name: "Download report.txt" }).waitFor();
    await reply.getByText("you said: see attached", { exact: true }).waitFor({ timeout: 30_000 });
    await waitUntil("the attachment in the reader's copy", () => messagesOf(doc).length === 5, 10_000);
    assert.deepEqual(messagesOf(doc).slice(3), [[me, "see attached", ["uploaded-files/report.txt"]], ["agent", "you said: see attached", []]]);
    assert.equal(new TextDecoder().decode(await reader.storage.download("uploaded-files/report.txt").then((f: any) => f.data)), "numbers");
    // A second file of the same name does not replace the first (its message still points at it).
    await chat.getByLabel("Attach files").setInputFiles({ name: "report.txt", mimeType: "text/plain", buffer: Buffer.from("other numbers") });
    await chat.getByRole("list", { name: "Attachments to send" }).getByText("report (2).txt").waitFor();
    assert.equal(new TextDecoder().decode(await reader.storage.download("uploaded-files/report.txt").then((f: any) => f.data)), "numbers");
    assert.equal(new TextDecoder().decode(await reader.storage.download("uploaded-files/report (2).txt").then((f: any) => f.data)), "other numbers");
    await w.shot("chat-attachments");
    await reader.sync.close(path);

    // History: after a reload and a new join, the thread shows what it holds.
    await page.reload();
    await chat.getByRole("button", { name: "Join room" }).click();
    await lines.locator('li[data-author="agent"]').nth(1).waitFor({ timeout: 30_000 });
    assert.deepEqual(await lines.locator("li .text").allTextContents(), ["hello agent", "you said: hello agent", "see my notes", "see attached", "you said: see attached"]);
    await chat.getByRole("button", { name: "Leave room" }).click();
    w.assertClean();
  });
});
