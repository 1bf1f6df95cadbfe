import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/** Runs the real CLI (`roomservice serve`) as a child process and waits for its URL. */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}, args: string[] = []): Promise<{ child: ChildProcess; url: string; output: () => string; stdout: () => string }> {
  const child = spawn(process.execPath, [join(root, "packages/cli/src/main.ts"), "serve", "--port", "0", "--host", "127.0.0.1", "--data", dataDir, ...args], {
    // No runtime unless a test asks for one: a SIGKILLed server would leave pooled namespaces.
    env: { ...process.env, ROOMSERVICE_LOG_LEVEL: "warn", ROOMSERVICE_RUNTIME: "none", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let stdout = "";
  child.stderr!.on("data", (d) => (out += d));
  child.stdout!.on("data", (d) => (stdout += d));
  const url = await waitForServerUrl(child, "server", 20_000, () => out);
  return { child, url, output: () => out, stdout: () => stdout };
}

/**
 * Resolves with the URL a `roomservice serve` child prints ("listening on http://…"); rejects
 * after `timeoutMs` or when the child exits first, with `what` and the child's `output()`.
 */
export function waitForServerUrl(child: ChildProcess, what: string, timeoutMs: number, output: () => string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs / 1000} s: ${output()}`)), timeoutMs);
    child.stdout!.on("data", (d) => {
      buf += d;
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}: ${output()}`));
    });
  });
}

export function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
  });
}
