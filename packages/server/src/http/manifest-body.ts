import { parseManifest, validateManifestObject, type ParseResult } from "@roomservice/manifest";

/** What a manifest body may look like, for error messages. */
export const MANIFEST_BODY_FORMS = "a service manifest as a JSON object, or {\"yaml\": \"<manifest text>\"}";

/**
 * Checks a request body that carries a service manifest, in one of the two forms every
 * manifest route takes (`POST …/services`, `PUT …/services/{id}`, `POST …/services/validate`):
 * a manifest object, or `{yaml: "<manifest text>"}` (exactly that one key: a manifest has no
 * `yaml` field, so anything else next to it is an ordinary object body and stays strict).
 * YAML errors carry 1-based line/column. `raw` of a valid result is the manifest as an object.
 * Returns null when the body is not an object at all (the caller says so with its own words).
 */
export function manifestFromBody(body: unknown): ParseResult | null {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  const keys = Object.keys(b);
  if (keys.length === 1 && keys[0] === "yaml" && typeof b.yaml === "string") return parseManifest(b.yaml);
  return validateManifestObject(b);
}
