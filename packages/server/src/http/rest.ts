import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ManifestWarning } from "@roomservice/manifest";
import { mintParticipantToken, defaultApiScope } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import type { ApiKeyStore } from "../services/api-keys.ts";
import { participantName } from "../services/admin-auth.ts";
import type { SecretInfo, SecretStore } from "../services/secret-store.ts";
import type { ServiceRecord, ServiceStore } from "../services/service-store.ts";
import { badRequest, manifestErrorsJson, notFound, RoomserviceError } from "./errors.ts";
import { parseBody, roomSettingsBody, secretCreateBody, secretUpdateBody } from "./bodies.ts";
import { externalHttpBase, roomWsUrl } from "./public-url.ts";
import { serviceWarnings, type ImageExists } from "../services/service-warnings.ts";
import { legacyNameWarnings } from "../services/stored-manifest.ts";
import { MANIFEST_BODY_FORMS, manifestFromBody } from "./manifest-body.ts";
import { MIN_MASKED_SECRET_BYTES } from "../services/launch-spec.ts";
import { MAX_SOURCE_BYTES } from "./service-source-routes.ts";

/** Fields the API adds to a service (serviceJson), ignored when a client sends them back. */
export const SERVER_SET_FIELDS = ["id", "version_number", "revision", "room", "created_at", "updated_at", "warnings"] as const;

export interface RestDeps {
  ctx: ServerContext;
  services: ServiceStore;
  secrets: SecretStore;
  apiKeys: ApiKeyStore;
  /** Whether an image exists where services run (Docker runtime only); absent: not checked. */
  imageExists?: ImageExists;
}

type Params = { project: string; room?: string; id?: string };
type Req = FastifyRequest<{ Params: Params; Body: unknown }>;

/** Re-exported: where other route files have always found it. */
export { manifestErrorsJson };

/**
 * A service as the API shows it: the stored manifest (its `version` is the manifest's, "v1")
 * plus its id and the store's `revision` (1, 2, … one per edit) under its own name, and
 * `warnings` when an earlier release stored a name the current rules refuse (stored-manifest.ts).
 */
function serviceJson(s: ServiceRecord): Record<string, unknown> {
  const warnings = legacyNameWarnings(s);
  return {
    ...s.spec, id: s.id, revision: s.version, room: s.room, created_at: new Date(s.createdAt).toISOString(), updated_at: new Date(s.updatedAt).toISOString(),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * A value shorter than MIN_MASKED_SECRET_BYTES is not masked in logs (masking every "on" or
 * "1" in every line would hide ordinary output), so storing one is worth a warning.
 */
function shortSecretWarnings(value: Buffer | undefined): { path: string; message: string }[] {
  if (value === undefined || value.length === 0 || value.length >= MIN_MASKED_SECRET_BYTES) return [];
  return [{ path: "data_base64", message: `the value is ${value.length} byte${value.length === 1 ? "" : "s"}: values under ${MIN_MASKED_SECRET_BYTES} bytes are not masked (****) in service logs` }];
}

/**
 * Secret values are write-only: data_base64 is always empty (the SDK requires the field), and a
 * PUT with an empty or absent data_base64 keeps the stored value (so GET-then-PUT is safe).
 */
function secretJson(s: SecretInfo): Record<string, unknown> {
  return { id: s.id, name: s.name, type: s.type, room: s.room, data_base64: "", redacted: true, created_at: new Date(s.createdAt).toISOString(), updated_at: new Date(s.updatedAt).toISOString() };
}

/**
 * The REST control plane, shaped like MeshAgent's so the SDK's `Meshagent` client works:
 * project and room services, project and room secrets, room connect, sessions, settings.
 * Registered inside the `/accounts/projects/:project` scope, whose auth hook has already
 * authenticated the caller (`req.admin`) and checked the project and room name.
 */
export function registerRestRoutes(app: FastifyInstance, d: RestDeps): void {
  const { ctx } = d;
  const base = "";

  /** The room of a room-scoped route (already validated by the scope's hook), or null. */
  const roomOf = (req: Req): string | null => req.params.room ?? null;

  function parseService(body: unknown): { name: string; spec: Record<string, unknown>; warnings: readonly ManifestWarning[]; yaml: string | undefined } {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest(`request body must be ${MANIFEST_BODY_FORMS}`);
    const obj = { ...(body as Record<string, unknown>) };
    // What this API adds to a service (serviceJson) is not part of the manifest: a client that
    // GETs a service and PUTs it back unchanged must succeed. The URL is authoritative for the id.
    for (const k of SERVER_SET_FIELDS) delete obj[k];
    // The same body forms as POST …/services/validate: a manifest object or {yaml}.
    const r = manifestFromBody(obj)!;
    const spec = r.ok ? r.raw : obj;
    if (!r.ok) {
      throw new RoomserviceError(400, "invalid_manifest", `invalid service manifest: ${r.errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`, {
        errors: manifestErrorsJson(r.errors),
      });
    }
    // A {yaml} body's text is kept as the service's source (comments, layout) for editors.
    const yaml = Object.keys(obj).length === 1 && typeof obj.yaml === "string" ? obj.yaml : undefined;
    return { name: r.manifest.metadata.name, spec, warnings: r.warnings, yaml };
  }

  /** Keeps the text a service was saved from, for its revision (what GET …/source answers). */
  const keepSource = async (s: ServiceRecord, yaml: string | undefined) => {
    if (yaml !== undefined && Buffer.byteLength(yaml) <= MAX_SOURCE_BYTES) await d.services.setSource(s.id, s.version, yaml, ctx.clock.now());
  };

  const warningsFor = (room: string | null, p: { name: string; spec: Record<string, unknown>; warnings: readonly ManifestWarning[] }, selfId?: string) =>
    serviceWarnings({ store: d.services, project: ctx.projectId, room, name: p.name, spec: p.spec, manifestWarnings: p.warnings, imageExists: d.imageExists, ...(selfId === undefined ? {} : { selfId }) });

  async function findService(id: string, room: string | null): Promise<ServiceRecord> {
    const s = await d.services.get(id);
    if (s === undefined || s.project !== ctx.projectId || s.room !== room) {
      throw notFound(`service ${JSON.stringify(id)} not found${room === null ? " in the project" : ` in room ${JSON.stringify(room)}`}`);
    }
    return s;
  }

  for (const prefix of [base, `${base}/rooms/:room`]) {
    app.post(`${prefix}/services`, async (req: Req, reply) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      const parsed = parseService(req.body);
      // The same warnings as POST …/services/validate (missing image, shared port, ignored fields).
      const warnings = await warningsFor(g.room, parsed);
      const s = await d.services.create(ctx.projectId, g.room, parsed.name, parsed.spec, ctx.clock.now());
      await keepSource(s, parsed.yaml);
      ctx.logger.info({ service: s.id, name: s.name, room: g.room, by: g.admin.identity }, "service created");
      if (warnings.length > 0) ctx.logger.warn({ service: s.id, warnings }, "service stored with warnings");
      return reply.code(201).send({ id: s.id, warnings });
    });
    app.get(`${prefix}/services`, async (req: Req) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      return { services: (await d.services.list(ctx.projectId, g.room)).map(serviceJson) };
    });
    app.get(`${prefix}/services/:id`, async (req: Req) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      return serviceJson(await findService(req.params.id!, g.room));
    });
    app.put(`${prefix}/services/:id`, async (req: Req, reply) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      await findService(req.params.id!, g.room);
      const parsed = parseService(req.body);
      const warnings = await warningsFor(g.room, parsed, req.params.id!);
      const s = await d.services.update(req.params.id!, parsed.name, parsed.spec, ctx.clock.now());
      await keepSource(s, parsed.yaml);
      ctx.logger.info({ service: s.id, version: s.version, by: g.admin.identity }, "service updated (applies at the next session)");
      if (warnings.length > 0) ctx.logger.warn({ service: s.id, warnings }, "service stored with warnings");
      // 200 with the warnings (the SDK ignores update bodies; the CLI and Studio show them).
      return reply.code(200).send({ id: s.id, revision: s.version, warnings });
    });
    app.delete(`${prefix}/services/:id`, async (req: Req, reply) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      await findService(req.params.id!, g.room);
      await d.services.delete(req.params.id!);
      return reply.code(204).send();
    });

    // Secrets: { name, type, data_base64 } in; values never come back out.
    const SECRET_BODY = "a JSON object {name, type?, data_base64}";
    const secretValue = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, "base64"));
    const findSecret = async (id: string, room: string | null) => {
      const s = await d.secrets.getInfo(id);
      if (s === undefined || s.project !== ctx.projectId || s.room !== room) throw notFound(`secret ${JSON.stringify(id)} not found`);
      return s;
    };
    app.post(`${prefix}/secrets`, async (req: Req, reply) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      const b = parseBody(secretCreateBody, req.body, "secret", SECRET_BODY);
      const s = await d.secrets.create(ctx.projectId, g.room, b.name, b.type ?? "opaque", secretValue(b.data_base64)!, ctx.clock.now());
      ctx.logger.info({ secret: s.id, name: s.name, room: g.room, by: g.admin.identity }, "secret stored");
      return reply.code(201).send({ id: s.id, warnings: shortSecretWarnings(secretValue(b.data_base64)) });
    });
    app.get(`${prefix}/secrets`, async (req: Req) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      return { secrets: (await d.secrets.list(ctx.projectId, g.room)).map(secretJson) };
    });
    app.get(`${prefix}/secrets/:id`, async (req: Req) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      return secretJson(await findSecret(req.params.id!, g.room));
    });
    app.put(`${prefix}/secrets/:id`, async (req: Req, reply) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      await findSecret(req.params.id!, g.room);
      const b = parseBody(secretUpdateBody, req.body, "secret", SECRET_BODY);
      const fields: { name?: string; type?: string; value?: Buffer } = {};
      if (b.type !== undefined) fields.type = b.type;
      if (b.name !== undefined) fields.name = b.name;
      // No value (absent, or empty as the SDK sends back what GET showed): keep the stored one.
      // Values are write-only, so a get-then-update round trip must not blank the secret.
      const value = secretValue(b.data_base64);
      if (value !== undefined && value.length > 0) fields.value = value;
      await d.secrets.update(req.params.id!, fields, ctx.clock.now()); // SecretError: 400/404/409 via the error handler
      // 200 with the warnings (the SDK ignores update bodies; the CLI shows them).
      return reply.code(200).send({ id: req.params.id!, warnings: shortSecretWarnings(fields.value) });
    });
    app.delete(`${prefix}/secrets/:id`, async (req: Req, reply) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      await findSecret(req.params.id!, g.room);
      await d.secrets.delete(req.params.id!);
      return reply.code(204).send();
    });
  }

  app.post(`${base}/rooms/:room/connect`, async (req: Req) => {
    const g = { admin: req.admin!, room: roomOf(req) };
    const room = g.room!;
    const identity = participantName(g.admin);
    const jwt = await mintParticipantToken(ctx.secret, {
      room, identity, role: "user", api: defaultApiScope("user"), ttlSeconds: 3600, projectId: ctx.projectId,
      nowSeconds: Math.floor(ctx.clock.now() / 1000),
    });
    return { jwt, room_name: room, project_id: ctx.projectId, room_url: roomWsUrl(externalHttpBase(ctx.publicUrl, req.headers.host), room) };
  });

  app.put(`${base}/rooms/:room/settings`, async (req: Req, reply) => {
    const g = { admin: req.admin!, room: roomOf(req) };
    const v = parseBody(roomSettingsBody, req.body, "room settings", "a JSON object {departure_timeout_seconds}").departure_timeout_seconds;
    await ctx.roomSettings.setDepartureTimeoutMs(g.room!, v === null ? null : Math.round(v * 1000), ctx.clock.now());
    return reply.code(204).send();
  });
}
