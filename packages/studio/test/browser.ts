/**
 * Browser plumbing for Studio's acceptance tests: Debian's chromium driven by playwright-core
 * (flags from COMMON.md), pages that record every console error, failed request and response
 * body (so a test can fail on any of them, and search them for a secret), and screenshots to
 * test-results/studio/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

const root = fileURLToPath(new URL("../../..", import.meta.url));
export const SCREENSHOT_DIR = join(root, "test-results", "studio");

/** Debian's chromium with COMMON.md's flags, plus `extraArgs` (e.g. a fake microphone). */
export async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.ROOMSERVICE_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}

/** A page and everything it saw. */
export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  consoleErrors: string[];
  failedRequests: string[];
  /** URL + body of every text response (JSON, HTML, JS, SSE chunks are not included). */
  responses: { url: string; body: string }[];
  /** Paths of the screenshots taken. */
  screenshots: string[];
  /** Saves a full-page screenshot as test-results/studio/<name>.png. */
  shot(name: string): Promise<string>;
  /** Throws when any console error or failed request was seen (minus `allowed`). */
  assertClean(allowed?: (s: string) => boolean): void;
}

/**
 * A fresh context (its own cookies) and page at `viewport`. `expected` marks requests whose
 * failure is part of the scenario (e.g. the 401 of GET /auth/session before sign-in).
 */
export async function watchedPage(browser: Browser, o: { viewport?: { width: number; height: number }; expected?: (url: string, status: number) => boolean } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: o.viewport ?? { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const w: WatchedPage = {
    page,
    context,
    consoleErrors: [],
    failedRequests: [],
    responses: [],
    screenshots: [],
    async shot(name) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      // Playwright scrolls to what it clicks; a full-page shot from the top keeps the sticky
      // header where it belongs.
      await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
      await page.screenshot({ path, fullPage: true });
      w.screenshots.push(path);
      return path;
    },
    assertClean(allowed = () => false) {
      const bad = [...w.consoleErrors, ...w.failedRequests].filter((s) => !allowed(s));
      if (bad.length > 0) throw new Error(`the page had errors:\n${bad.join("\n")}`);
    },
  };
  const expectedStatus = (url: string, status: number) => o.expected?.(url, status) ?? false;
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Chromium reports an HTTP error response as a console error too; those are judged
    // (expected or not) by the response listener below.
    if (/Failed to load resource: the server responded with a status of/.test(m.text())) return;
    w.consoleErrors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => w.consoleErrors.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => {
    const reason = r.failure()?.errorText ?? "";
    // Leaving a page aborts its open stream, socket and in-flight API reads (the app never
    // aborts a request itself): that is navigation, not a failed request.
    if (reason === "net::ERR_ABORTED" && (/\/stream(\?|$)/.test(r.url()) || ["websocket", "fetch", "eventsource"].includes(r.resourceType()))) return;
    w.failedRequests.push(`request failed: ${r.method()} ${r.url()} ${reason}`);
  });
  page.on("response", async (r) => {
    if (r.status() >= 400 && !expectedStatus(new URL(r.url()).pathname, r.status())) {
      w.failedRequests.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    }
    const type = r.headers()["content-type"] ?? "";
    if (/event-stream/.test(type)) return;
    if (/json|html|text\/plain|javascript/.test(type)) {
      try {
        w.responses.push({ url: r.url(), body: await r.text() });
      } catch {
        // a body the page navigated away from
      }
    }
  });
  return w;
}

/**
 * Runs a test body; when it fails, saves a screenshot `FAILED-<name>.png` and the page's
 * errors next to the thrown error, so a failure can be looked at.
 */
export async function withFailureShot(w: WatchedPage, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    await w.shot(`FAILED-${name}`).catch(() => undefined);
    const seen = [...w.consoleErrors, ...w.failedRequests];
    if (seen.length > 0 && err instanceof Error) err.message += `\npage errors:\n${seen.join("\n")}`;
    throw err;
  }
}

/** Signs in through the sign-in page with an API key. */
export async function signInWithKey(page: Page, baseUrl: string, apiKey: string, path = "/rooms"): Promise<void> {
  await page.goto(baseUrl + path);
  await page.getByLabel("API key").fill(apiKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

/** GET /auth/session answers 401 before sign-in: the page asks whether a session exists. */
export const signedOutProbe = (url: string, status: number) => url === "/auth/session" && status === 401;
