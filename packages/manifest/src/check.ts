/**
 * The manifest's error reporting for any zod schema: the server checks its REST request
 * bodies with it, so a bad secret or settings body is refused in the same shape as a bad
 * manifest (field path, message, expected, got; unknown fields with "did you mean").
 */
import type { z } from "zod";
import { issuesToErrors, type ManifestError } from "./errors.ts";

/** The outcome of {@link checkAgainst}: the parsed value, or located errors. */
export type CheckResult<T> = { ok: true; value: T } | { ok: false; errors: ManifestError[] };

/**
 * Parses `input` with `schema` (use strict objects: unknown fields are errors).
 * `rootExpected` describes the whole value ("an object {name, type?, data_base64}") for the
 * error when the body is not an object at all.
 */
export function checkAgainst<S extends z.ZodType>(schema: S, input: unknown, rootExpected: string): CheckResult<z.output<S>> {
  const r = schema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  const errors = issuesToErrors(r.error.issues, input, schema, { "": rootExpected }).map(({ segments: _s, atKey: _a, ...e }) => e);
  return { ok: false, errors };
}
