import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliError } from "../options.ts";

/**
 * Where the CLI looks for the server when nothing says otherwise: `serve`'s default port
 * (the server's DEFAULT_PORT, not imported so that remote commands never load the server).
 */
export const DEFAULT_URL = "http://127.0.0.1:8080";

/** File `serve` writes (0600) in its data directory so a local CLI can reach it with no setup. */
export const ACCESS_FILE = "cli-access.json";

/**
 * Contents of `<data>/cli-access.json`: the running server's own URL, its project and an API
 * key named `local-cli` that `serve` rotates at every start. Whoever can read this file can
 * already read the data directory's database and project secret, so it grants nothing new.
 */
export interface AccessFile {
  url: string;
  project_id: string;
  api_key: string;
  pid: number;
  written_at: string;
}

/** Options every server-talking command takes (see `addRemoteOptions`). */
export interface RemoteOpts {
  url?: string;
  apiKey?: string;
  data?: string;
}

/** A resolved server target: every value says where it came from, for error messages. */
export interface Target {
  url: string;
  urlFrom: string;
  apiKey: string | null;
  keyFrom: string;
  project: string | null;
  /** The access file that was read, or the path that was looked at. */
  accessFile: string;
  accessFileFound: boolean;
}

/** The data directory a command means: --data, then ROOMSERVICE_DATA, then ./.roomservice. */
export function resolveDataDir(opt?: string): { dir: string; from: string } {
  if (opt !== undefined) return { dir: resolve(opt), from: "--data" };
  if (process.env.ROOMSERVICE_DATA !== undefined && process.env.ROOMSERVICE_DATA !== "") return { dir: resolve(process.env.ROOMSERVICE_DATA), from: "ROOMSERVICE_DATA" };
  return { dir: resolve(".roomservice"), from: "the default ./.roomservice of the current directory" };
}

/** Writes the access file atomically with mode 0600 (called by `serve`). */
export function writeAccessFile(dataDir: string, a: AccessFile): string {
  const file = join(dataDir, ACCESS_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(a, null, 2) + "\n", { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/** The access file, or null when there is none; a damaged one is an error saying what to do. */
export function readAccessFile(file: string): AccessFile | null {
  if (!existsSync(file)) return null;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliError(`${file} is not valid JSON (${(err as Error).message}); restart "roomservice serve" to rewrite it, or delete it`);
  }
  const a = v as Partial<AccessFile>;
  if (typeof a.url !== "string" || typeof a.api_key !== "string" || typeof a.project_id !== "string") {
    throw new CliError(`${file}: expected {url, api_key, project_id} strings; restart "roomservice serve" to rewrite it, or delete it`);
  }
  return a as AccessFile;
}

/** `raw` as an origin + path without a trailing slash; `from` names the source in errors. */
export function normalizeUrl(raw: string, from: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`${from}: expected a URL such as ${DEFAULT_URL}, got ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError(`${from}: expected an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  return u.origin + u.pathname.replace(/\/+$/, "");
}

/**
 * Resolves URL, API key and project. URL: --url, ROOMSERVICE_URL, the access file's, then
 * http://127.0.0.1:8080. Key: --api-key, ROOMSERVICE_API_KEY, then the access file's — the
 * file's key is only ever sent to the URL written beside it, never to another server.
 */
export function resolveTarget(o: RemoteOpts, env: NodeJS.ProcessEnv = process.env): Target {
  const data = resolveDataDir(o.data);
  const accessFile = join(data.dir, ACCESS_FILE);
  const access = readAccessFile(accessFile);
  let url: string;
  let urlFrom: string;
  if (o.url !== undefined) [url, urlFrom] = [normalizeUrl(o.url, "--url"), "--url"];
  else if (env.ROOMSERVICE_URL) [url, urlFrom] = [normalizeUrl(env.ROOMSERVICE_URL, "ROOMSERVICE_URL"), "ROOMSERVICE_URL"];
  else if (access !== null) [url, urlFrom] = [normalizeUrl(access.url, accessFile), accessFile];
  else [url, urlFrom] = [DEFAULT_URL, "the default; set --url or ROOMSERVICE_URL"];
  const fileMatches = access !== null && normalizeUrl(access.url, accessFile) === url;
  let apiKey: string | null = null;
  let keyFrom = "none";
  if (o.apiKey !== undefined) [apiKey, keyFrom] = [o.apiKey, "--api-key"];
  else if (env.ROOMSERVICE_API_KEY) [apiKey, keyFrom] = [env.ROOMSERVICE_API_KEY, "ROOMSERVICE_API_KEY"];
  else if (fileMatches) [apiKey, keyFrom] = [access.api_key, accessFile];
  const project = env.ROOMSERVICE_PROJECT_ID || (fileMatches ? access.project_id : null);
  return { url, urlFrom, apiKey, keyFrom, project, accessFile, accessFileFound: access !== null };
}
