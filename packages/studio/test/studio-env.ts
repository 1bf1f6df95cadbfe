/**
 * A Docker-backed server (examples/ images built, see packages/server/test/services-env.ts),
 * an API key to sign in with, and a browser. One per test file.
 */
import type { Browser } from "playwright-core";
import { startServicesServer, type ServicesEnv } from "../../server/test/services-env.ts";
import { launchBrowser } from "./browser.ts";
import { ensureStudioBuilt } from "./build.ts";

export { IMAGES, manifest, waitUntil } from "../../server/test/services-env.ts";

export interface StudioEnv {
  env: ServicesEnv;
  url: string;
  apiKey: string;
  browser: Browser;
  /** REST as an API client (Bearer), to check what the page shows against the API. */
  rest<T>(method: string, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** `browserArgs` are extra chromium flags (the microphone test's fake audio device); `server`, server options (limits). */
export async function startStudioEnv(o: { departureTimeoutMs?: number; browserArgs?: string[]; server?: NonNullable<Parameters<typeof startServicesServer>[0]>["server"] } = {}): Promise<StudioEnv> {
  ensureStudioBuilt();
  const env = await startServicesServer({ departureTimeoutMs: o.departureTimeoutMs ?? 500, ...(o.server === undefined ? {} : { server: o.server }) });
  const apiKey = (await env.ts.server.apiKeys.create("default", "studio-test", Date.now())).key;
  const browser = await launchBrowser(o.browserArgs);
  return {
    env,
    url: env.ts.url,
    apiKey,
    browser,
    async rest<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(env.ts.url + path, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return (text === "" ? undefined : JSON.parse(text)) as T;
    },
    async close() {
      await browser.close();
      await env.close();
    },
  };
}
