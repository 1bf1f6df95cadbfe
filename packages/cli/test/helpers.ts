import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));

/** Environment with nothing that would point the CLI at some other server or data directory. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(ROOMSERVICE_|MESHAGENT_)/.test(k)) env[k] = v;
  return { ...env, ROOMSERVICE_LOG_LEVEL: "warn", ...extra };
}

export interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the real CLI (`node packages/cli/src/main.ts …`) in `cwd` and waits for it. */
export function cli(args: string[], o: { cwd?: string; input?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [main, ...args], {
    encoding: "utf8", input: o.input ?? "", cwd: o.cwd ?? tmpdir(), env: cleanEnv(o.env), timeout: 60000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Same as `cli` but asynchronous (the test process keeps serving SDK clients meanwhile). */
export function cliAsync(args: string[], o: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [main, ...args], { cwd: o.cwd ?? tmpdir(), env: cleanEnv(o.env), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (err += d));
    c.on("close", (code) => resolve({ code, out, err }));
  });
}

export interface Served {
  url: string;
  dataDir: string;
  /** A directory whose ./.roomservice is the server's data directory. */
  home: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real `roomservice serve` (port 0 unless given) with the data directory
 * `<home>/.roomservice` (a fresh home unless given; `stop()` removes it unless keepHome).
 */
export async function serve(o: { runtime?: string; env?: Record<string, string>; args?: string[]; home?: string; port?: number; keepHome?: boolean } = {}): Promise<Served> {
  const home = o.home ?? (await mkdtemp(join(tmpdir(), "rs-cli-home-")));
  const dataDir = join(home, ".roomservice");
  const child = spawn(process.execPath, [main, "serve", "--port", String(o.port ?? 0), "--host", "127.0.0.1", ...(o.args ?? [])], {
    cwd: home,
    env: cleanEnv({ ROOMSERVICE_RUNTIME: o.runtime ?? "none", ...o.env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr!.on("data", (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`server did not start within 30 s: ${out}`)), 30000);
    child.stdout!.on("data", (d) => {
      buf += d;
      out += d;
      const m = /listening on (http:\/\/\S+)[\s\S]*CLI access/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${out}`));
    });
  });
  return {
    url, dataDir, home, child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      if (!o.keepHome) await rm(home, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`), for eventual states. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
