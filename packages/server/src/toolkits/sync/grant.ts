import { checkSurface, PermissionDenied, type ApiScope } from "../../auth/scope.ts";

/**
 * The token's `sync` grant for one document path, as the SDK's `SyncGrant` reads it: no
 * `paths` list grants everything; otherwise an entry matches its exact path, or a prefix when
 * it ends in `*`, and `read_only` takes away writing. Throws PermissionDenied when no entry matches.
 */
export function checkSyncPath(api: ApiScope | undefined, path: string): { write: boolean } {
  const g = checkSurface(api, "sync");
  if (!Array.isArray(g.paths)) return { write: true };
  for (const raw of g.paths) {
    if (typeof raw !== "object" || raw === null) continue;
    const p = raw as { path?: unknown; read_only?: unknown; readOnly?: unknown };
    if (typeof p.path !== "string") continue;
    const gp = p.path.replace(/^\/+/, "");
    if (gp === path || (gp.endsWith("*") && path.startsWith(gp.slice(0, -1)))) return { write: (p.read_only ?? p.readOnly) !== true };
  }
  throw new PermissionDenied(`sync path "${path}" is outside the token's sync grant`);
}
