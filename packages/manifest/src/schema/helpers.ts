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

/**
 * A service name: a DNS label (RFC 1123, as Kubernetes names its objects), because the name
 * becomes part of container, Pod and log names and is typed into CLI commands and URLs.
 * MeshAgent's own templates and examples use such names ("chat-agent").
 */
export const SERVICE_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The rules of {@link SERVICE_NAME_RE} in words, for error messages and docs. */
export const SERVICE_NAME_RULES = 'lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (e.g. "chat-agent")';

/** A DNS-label-like name (service names, volume names); see {@link SERVICE_NAME_RE}. */
export function dnsLabel(description: string) {
  return z
    .string()
    .superRefine((n, ctx) => {
      if (!SERVICE_NAME_RE.test(n)) ctx.addIssue(customIssue("is not a valid name", { expected: SERVICE_NAME_RULES }));
    })
    .describe(description);
}

/**
 * A toolkit name as room participants call it (`room.invoke_tool {toolkit}`), and as
 * `room.register_toolkit` accepts it: 1–128 letters, digits, "_", ".", ":" or "-". An MCP
 * endpoint's `label` becomes the name of the toolkit its tools appear under, so it follows
 * the same rule (MeshAgent's own schema only says "a string").
 */
export const TOOLKIT_NAME_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

/** {@link TOOLKIT_NAME_RE} in words. */
export const TOOLKIT_NAME_RULES = 'letters, digits, "_", ".", ":" or "-", 1 to 128 characters (e.g. "research-tools")';

/** A toolkit name; see {@link TOOLKIT_NAME_RE}. */
export function toolkitName(description: string) {
  return z
    .string()
    .superRefine((n, ctx) => {
      if (!TOOLKIT_NAME_RE.test(n)) ctx.addIssue(customIssue("is not a valid toolkit name", { expected: TOOLKIT_NAME_RULES }));
    })
    .describe(description);
}

/** The longest participant name a manifest may give (agents, token identities). */
export const PARTICIPANT_NAME_MAX = 128;

/**
 * A participant name (the `name` of a participant token: agents[].name, token and endpoint
 * identities). MeshAgent's schema only says "a string"; names are shown in every participant
 * list and compared exactly, so a blank name, one with leading or trailing spaces or with
 * control characters (a pasted newline) is refused rather than joining as a look-alike.
 */
export function participantName(description: string) {
  return z
    .string()
    .superRefine((n, ctx) => {
      const problem = n.trim() === ""
        ? "must not be empty or blank"
        : n !== n.trim()
          ? "must not start or end with spaces"
          : /[\u0000-\u001f\u007f]/.test(n)
            ? "must not contain control characters (newlines, tabs)"
            : n.length > PARTICIPANT_NAME_MAX
              ? `is longer than ${PARTICIPANT_NAME_MAX} characters`
              : null;
      if (problem !== null) ctx.addIssue(customIssue(problem, { expected: `a participant name: 1 to ${PARTICIPANT_NAME_MAX} characters, no control characters, no leading or trailing spaces (e.g. "chat-agent")` }));
    })
    .describe(description);
}

/**
 * An HTTP path on the service's own port (probe paths, endpoint paths). Must start with "/":
 * "healthz" would otherwise be joined to the host as "http://host:9100healthz".
 */
export function httpPath(description: string) {
  return z
    .string()
    .superRefine((p, ctx) => {
      if (!p.startsWith("/")) {
        ctx.addIssue(customIssue(`must start with "/" (write "/${p}")`, { expected: 'an HTTP path starting with "/", such as "/healthz"' }));
      } else if (/[\s\u0000-\u001f\u007f]/.test(p)) {
        ctx.addIssue(customIssue("must not contain spaces or control characters", { expected: 'an HTTP path such as "/healthz" (percent-encode other characters)' }));
      }
    })
    .describe(description);
}

/** An HTTP header name (RFC 9110 token). */
export const headerName = z
  .string()
  .superRefine((n, ctx) => {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(n)) ctx.addIssue(customIssue("is not a valid HTTP header name", { expected: 'letters, digits and "-" (an RFC 9110 token), e.g. "X-Api-Key"' }));
  });

/**
 * A file path inside room storage: relative to the room's root (a leading "/" means that root,
 * as MeshAgent's own manifests write it), no ".." and no empty or "." segments.
 */
export function storagePath(description: string) {
  return z
    .string()
    .superRefine((p, ctx) => {
      const rel = p.startsWith("/") ? p.slice(1) : p;
      const parts = rel.split("/");
      if (rel === "" || parts.some((s) => s === "" || s === "." || s === "..") || p.includes("\\") || /[\u0000-\u001f]/.test(p)) {
        ctx.addIssue(customIssue("is not a path inside room storage", { expected: 'a file path in room storage without "..", "." or empty segments, such as "inbox/readme.txt"' }));
      }
    })
    .describe(description);
}
