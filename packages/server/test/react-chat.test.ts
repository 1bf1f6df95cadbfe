import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import type { AddressInfo } from "node:net";
import { chromium } from "playwright-core";
import { eventually } from "./helpers.ts";
import { startServicesServer, manifest, IMAGES, waitUntil, labelled } from "./services-env.ts";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const app = join(root, "examples/react-chat");
const SCREENSHOT = join(root, "test-output/react-chat.png");
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

/** Installs the page's own pinned dependencies (first run only) and builds it with Vite. */
function buildPage(outDir: string): void {
  const npm = join(process.execPath, "../npm");
  if (!existsSync(join(app, "node_modules/@meshagent/meshagent-tailwind"))) {
    execFileSync(existsSync(npm) ? npm : "npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: app, stdio: "pipe" });
  }
  execFileSync(process.execPath, [join(app, "node_modules/vite/bin/vite.js"), "build", "--outDir", outDir, "--emptyOutDir"], { cwd: app, stdio: "pipe" });
}

/** A static file server for the built page. */
async function serve(dir: string): Promise<{ url: string; close(): void }> {
  const server = createServer(async (req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(dir, rel === "/" ? "index.html" : rel);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

test("a page built on MeshAgent's React hooks and Tailwind Chat component (0.35.8, untouched) chats with the example agent through a thread document", { timeout: 300_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), "rs-react-chat-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  buildPage(out);
  const site = await serve(out);
  t.after(() => site.close());

  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const room = "react-room";
  await env.addService(room, manifest("agent", IMAGES.chat, { container: { image: IMAGES.chat, environment: [{ name: "WORD_DELAY_MS", value: "30" }] } }));
  const jwt = await env.ts.token(room, "alice");

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_FLAGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 900, height: 640 } });
  const consoleLines: string[] = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  const path = ".threads/agent-alice.thread";
  const q = new URLSearchParams({ url: `${env.ts.wsUrl}/rooms/${room}`, jwt, path, agent: "agent" });
  await page.goto(`${site.url}/?${q}`);

  try {
    await page.getByTestId("presence").filter({ hasText: "agent is online" }).waitFor({ timeout: Number(process.env.PRESENCE_TIMEOUT ?? 90_000) });
    // MeshAgent's Tailwind ChatInput: a textarea that sends on Enter (typed key by key, as a person would).
    const input = page.getByPlaceholder("Type a message and press Enter");
    await input.click();
    await input.pressSequentially("hello from the browser");
    await input.press("Enter");
    await page.getByText("you said: hello from the browser").waitFor({ timeout: 30_000 });
  } catch (err) {
    const body = await page.locator("body").innerText().catch(() => "?");
    await mkdir(join(root, "test-output"), { recursive: true });
    await writeFile(join(root, "test-output/react-chat-console.log"), consoleLines.join("\n")).catch(() => undefined);
    throw new Error(`${(err as Error).message}\npage text: ${body}\npage console:\n${consoleLines.filter((l) => !l.includes("GOT RESPONSE")).slice(-30).join("\n")}`);
  }
  // Both messages are on the page, the question above the answer.
  const text = await page.locator("body").innerText();
  const question = text.indexOf("hello from the browser");
  const answer = text.indexOf("you said: hello from the browser");
  assert.ok(question >= 0 && answer > question, `question above answer in: ${text}`);
  await mkdir(join(root, "test-output"), { recursive: true });
  await page.screenshot({ path: SCREENSHOT });

  // The conversation is the thread document in room storage: the SDK sees the same.
  const bob = await env.ts.client(room, "bob");
  const doc = await bob.sync.open(path);
  const texts = doc.root.getChildren().find((c: any) => c.tagName === "messages").getChildren().map((m: any) => m.getAttribute("text"));
  assert.deepEqual(texts, ["hello from the browser", "you said: hello from the browser"]);
  await bob.sync.close(path);
  bob.dispose();
  await page.close();
  await eventually(() => env.ts.server.rooms.get(room) === undefined, 30_000, "the session to end");
  await waitUntil("the agent's containers removed", () => labelled(env.ownerId, room).length === 0, 60_000);
});
