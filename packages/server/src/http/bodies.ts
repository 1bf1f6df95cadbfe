/**
 * The REST API's request bodies as strict zod schemas, checked by one function so every
 * route refuses bad input the same way as a bad manifest: 400 `{error, code: "bad_request",
 * errors: [{path, message, expected, got}]}`, with unknown fields refused by name ("did you
 * mean"). A silently ignored field (`{"colour": "red"}`) is a setting the caller thinks they
 * made.
 */
import { z } from "zod";
import { checkAgainst } from "@roomservice/manifest";
import { badRequest, manifestErrorsJson } from "./errors.ts";

/**
 * Parses a request body with `schema`, or throws a 400 naming each wrong field. `what` names
 * the body in the message ("secret"); `rootExpected` describes the whole body.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what: string, rootExpected: string): z.output<S> {
  const r = checkAgainst(schema, body ?? undefined, rootExpected);
  if (r.ok) return r.value;
  throw badRequest(`invalid ${what}: ${r.errors.map((e) => `${e.path || "(body)"}: ${e.message} (expected ${e.expected}, got ${e.received})`).join("; ")}`, {
    errors: manifestErrorsJson(r.errors),
  });
}

/** A field the SDK sends (as null or absent) for a MeshAgent feature Roomservice does not have. */
const unsupported = (feature: string) =>
  z.unknown().superRefine((v, ctx) => {
    if (v !== undefined && v !== null) ctx.addIssue({ code: "custom", message: `not supported by Roomservice: ${feature}`, params: { expected: "null or no field" } });
  }).optional();

const BASE64 = /^[A-Za-z0-9+/=\s]*$/;
const base64 = z.string().superRefine((v, ctx) => {
  if (!BASE64.test(v)) ctx.addIssue({ code: "custom", message: "not base64 text", params: { expected: "base64 text (A-Z, a-z, 0-9, +, /, =)", received: "other characters" } });
});

const secretFields = {
  name: z.string().min(1),
  type: z.string().min(1).optional(),
  data_base64: base64,
  // Sent by the SDK's createRoomSecret / updateRoomSecret, undefined unless the caller sets them.
  secret_id: unsupported("choosing a secret's id (the server assigns it)"),
  delegated_to: unsupported("delegated secrets"),
  for_identity: unsupported("per-identity secrets"),
};

/** POST …/secrets: `{name, type?, data_base64}`. */
export const secretCreateBody = z.strictObject(secretFields);
/** PUT …/secrets/{id}: any of the create fields. */
export const secretUpdateBody = z.strictObject({ ...secretFields, name: secretFields.name.optional(), data_base64: base64.optional() });

/** PUT …/rooms/{room}/settings. */
export const roomSettingsBody = z.strictObject({
  departure_timeout_seconds: z.number().min(0).max(86400).nullable()
    .describe("seconds a session stays open after its last participant leaves; null: the server's default"),
});

/** POST …/rooms (the SDK's createRoom). */
export const roomCreateBody = z.strictObject({
  name: z.string(),
  if_not_exists: z.boolean().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  annotations: z.record(z.string(), z.unknown()).nullish(),
  permissions: unsupported("room permissions"),
});

/**
 * PUT …/rooms/{room} (the SDK's updateRoom sends `{name, metadata?, annotations?}`). A room's
 * id is its name, so `name` must equal the room in the URL: renames are refused (rooms.md).
 */
export const roomUpdateBody = z.strictObject({
  name: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  annotations: z.record(z.string(), z.unknown()).nullish(),
});

/** POST …/api-keys (the SDK's createApiKey). */
export const apiKeyCreateBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().nullish(),
});

/** PUT …/llm. */
export const llmUpstreamBody = z.strictObject({
  base_url: z.string(),
  api_key_secret: z.string().min(1).nullish(),
});

/** POST /auth/session: `{api_key}` or `{login}`. */
export const signInBody = z.strictObject({
  api_key: z.string().trim().min(1).optional(),
  login: z.string().min(1).optional(),
});
