/**
 * Small schema builders shared by the MeshAgent and Roomservice sections.
 *
 * Custom issues carry `params.expected` (and optionally `params.received`) so that the
 * error mapper in ../errors.ts can say what was expected and what was given without
 * parsing messages.
 */
import { z } from "zod";

export interface IssueParams {
  /** What a valid value looks like, phrased for people ("a path starting with /"). */
  expected: string;
  /** What was given, when describing the raw input would be wrong or would leak a value. */
  received?: string;
}

/** The payload of a custom issue; see {@link IssueParams}. */
export function customIssue(message: string, params: IssueParams, path?: PropertyKey[]) {
  return { code: "custom" as const, message, params: { ...params }, ...(path === undefined ? {} : { path }) };
}

/**
 * An optional MeshAgent field. MeshAgent's pydantic models accept `null` for every optional
 * field (their own templates write `repo: null`), so Roomservice must as well.
 */
export function nullable<T extends z.ZodType>(schema: T) {
  return schema.nullish();
}

/**
 * An optional field with a default: `null` and absence both become `value` in the parsed
 * output (MeshAgent treats `null` as "use the default").
 */
export function withDefault<T extends z.ZodType>(schema: T, value: z.output<T>, description?: string) {
  // default and description in one meta() call: a later describe() would replace the default
  return schema
    .nullish()
    .transform((v): z.output<T> => (v ?? value) as z.output<T>)
    .meta({ default: value as unknown, ...(description === undefined ? {} : { description }) });
}

/** An absolute path inside the container. */
export function containerPath(description: string) {
  return z
    .string()
    .superRefine((p, ctx) => {
      if (!p.startsWith("/")) {
        ctx.addIssue(customIssue("must be an absolute path inside the container", { expected: 'an absolute path such as "/data"' }));
      } else if (p.split("/").includes("..")) {
        ctx.addIssue(customIssue('must not contain ".." segments', { expected: 'an absolute path without ".."' }));
      }
    })
    .describe(description);
}

/**
 * A path relative to a storage root. ".." is refused because a subpath is how a service gets
 * a *part* of room storage: climbing out of it would reach other rooms' files.
 */
export function subPath(description: string) {
  return z
    .string()
    .superRefine((p, ctx) => {
      const parts = p.split(/[\\/]/);
      if (parts.includes("..")) {
        ctx.addIssue(customIssue('must not contain ".." segments (a subpath cannot leave the storage it selects)', { expected: 'a path inside room storage such as "inbox/reports"' }));
      }
    })
    .describe(description);
}

/** `Record<string, string>` for annotations and headers. */
export const stringMap = z.record(z.string(), z.string());
