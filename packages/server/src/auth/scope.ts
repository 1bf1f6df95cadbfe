/**
 * The `api` grant of a participant token and the checks made against it on every call.
 * Shapes follow the SDK's ApiScope JSON: a missing sub-grant denies that surface; an empty
 * object (`"messaging": {}`) grants it with the SDK's defaults (every flag true).
 */
export type ApiScope = Record<string, Record<string, unknown> | undefined>;

export class PermissionDenied extends Error {
  override name = "PermissionDenied";
}

function flag(grant: Record<string, unknown>, name: string): boolean {
  const v = grant[name];
  return v === undefined || v === null ? true : v === true;
}

function requireGrant(api: ApiScope | undefined, surface: string): Record<string, unknown> {
  if (api === undefined) throw new PermissionDenied(`token has no api grant; add an api scope with "${surface}" to the token`);
  const g = api[surface];
  if (g === undefined || g === null || typeof g !== "object") {
    throw new PermissionDenied(`token's api grant does not include "${surface}"`);
  }
  return g;
}

export function checkFlag(api: ApiScope | undefined, surface: string, name: string): void {
  const g = requireGrant(api, surface);
  if (!flag(g, name)) throw new PermissionDenied(`token's api grant "${surface}" does not allow "${name}"`);
}

export function checkSurface(api: ApiScope | undefined, surface: string): Record<string, unknown> {
  return requireGrant(api, surface);
}

interface PathGrant {
  path: string;
  readOnly: boolean;
}

function pathGrants(g: Record<string, unknown>): PathGrant[] | undefined {
  if (!Array.isArray(g.paths)) return undefined;
  return g.paths
    .filter((p): p is Record<string, unknown> => typeof p === "object" && p !== null && typeof (p as { path?: unknown }).path === "string")
    .map((p) => ({ path: p.path as string, readOnly: (p.read_only ?? p.readOnly) === true }));
}

/** A grant path as segments: leading/trailing/double slashes and "." segments ignored. */
function grantSegments(p: string): string[] {
  return p.split("/").filter((s) => s !== "" && s !== ".");
}

/**
 * Whether storage path `path` (normalized, "" is the root) lies within grant path `grant`.
 * Whole segments only: grant "pub" covers "pub" and "pub/a.txt", never "pub-private/x" or
 * "public-keys.txt". A grant of "" or "/" covers everything.
 */
export function storagePathWithin(path: string, grant: string): boolean {
  const g = grantSegments(grant);
  const p = path === "" ? [] : path.split("/");
  return g.length <= p.length && g.every((s, i) => s === p[i]);
}

/** Storage path check; `path` is the normalized room-relative path ("" is the root). */
export function checkStoragePath(api: ApiScope | undefined, path: string, mode: "read" | "write"): void {
  const g = requireGrant(api, "storage");
  const grants = pathGrants(g);
  if (grants === undefined) return;
  // The most specific grant decides: a read-only "pub" inside a writable "" stays read-only.
  const match = grants
    .filter((pg) => storagePathWithin(path, pg.path))
    .sort((a, b) => grantSegments(b.path).length - grantSegments(a.path).length || Number(b.readOnly) - Number(a.readOnly))[0];
  if (match === undefined) {
    throw new PermissionDenied(`storage path "${path}" is outside the token's storage grant (${grants.map((x) => JSON.stringify(x.path)).join(", ") || "no paths"})`);
  }
  if (mode === "write" && match.readOnly) {
    throw new PermissionDenied(`storage path "${path}" is read-only for this token (grant "${match.path}")`);
  }
}

/** Hosted toolkits: agents.use_tools plus an optional allowed_toolkits list. */
export function checkUseToolkit(api: ApiScope | undefined, toolkit: string): void {
  const g = requireGrant(api, "agents");
  if (!flag(g, "use_tools")) throw new PermissionDenied(`token's api grant "agents" does not allow "use_tools"`);
  const allowed = g.allowed_toolkits;
  if (Array.isArray(allowed) && !allowed.includes(toolkit)) {
    throw new PermissionDenied(`toolkit "${toolkit}" is not in the token's agents.allowed_toolkits`);
  }
}
