import type { FastifyInstance, FastifyRequest } from "fastify";
import { validateManifestObject, type ManifestError, type ManifestWarning } from "@roomservice/manifest";
import { mintParticipantToken, defaultApiScope } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import type { ApiKeyStore } from "../services/api-keys.ts";
import type { SecretInfo, SecretStore } from "../services/secret-store.ts";
import type { ServiceRecord, ServiceStore } from "../services/service-store.ts";
import { badRequest, notFound, RoomserviceError } from "./errors.ts";
import { serviceWarnings, type ImageExists } from "../services/service-warnings.ts";

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

/**
 * Manifest errors as the API shows them: field path, message, expected, what was given
 * (`got`; `received` is the same, the manifest package's name for it) and, when parsed from
 * text, the 1-based line and column (absent when unknown).
 */
export function manifestErrorsJson(errors: readonly ManifestError[]): Record<string, unknown>[] {
  return errors.map((e) => ({
    path: e.path, message: e.message, expected: e.expected, got: e.received, received: e.received,
    ...(e.line === undefined ? {} : { line: e.line, column: e.column ?? 1 }),
  }));
}

/**
 * A service as the API shows it: the stored manifest (its `version` is the manifest's, "v1")
 * plus its id and the store's `revision` (1, 2, … one per edit) under its own name.
 */
function serviceJson(s: ServiceRecord): Record<string, unknown> {
  return { ...s.spec, id: s.id, revision: s.version, room: s.room, created_at: new Date(s.createdAt).toISOString(), updated_at: new Date(s.updatedAt).toISOString() };
}

/** Secret values are write-only: data_base64 is always empty (the SDK requires the field). */
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

  function parseService(body: unknown): { name: string; spec: Record<string, unknown>; warnings: readonly ManifestWarning[] } {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("request body must be a service manifest (JSON object)");
    const spec = { ...(body as Record<string, unknown>) };
    // What this API adds to a service (serviceJson) is not part of the manifest: a client that
    // GETs a service and PUTs it back unchanged must succeed. The URL is authoritative for the id.
    for (const k of ["id", "version_number", "revision", "room", "created_at", "updated_at"]) delete spec[k];
    const r = validateManifestObject(spec);
    if (!r.ok) {
      throw new RoomserviceError(400, "invalid_manifest", `invalid service manifest: ${r.errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`, {
        errors: manifestErrorsJson(r.errors),
      });
    }
    return { name: r.manifest.metadata.name, spec, warnings: r.warnings };
  }

  const warningsFor = (room: string | null, p: { name: string; spec: Record<string, unknown>; warnings: readonly ManifestWarning[] }) =>
    serviceWarnings({ store: d.services, project: ctx.projectId, room, name: p.name, spec: p.spec, manifestWarnings: p.warnings, imageExists: d.imageExists });

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
      const warnings = await warningsFor(g.room, parsed);
      const s = await d.services.update(req.params.id!, parsed.name, parsed.spec, ctx.clock.now());
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
    const secretBody = (body: unknown, requireAll: boolean) => {
      const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
      const errs: string[] = [];
      if (requireAll || b.name !== undefined) if (typeof b.name !== "string" || b.name.length === 0) errs.push(`name: expected a non-empty string, got ${JSON.stringify(b.name)}`);
      if (b.type !== undefined && typeof b.type !== "string") errs.push(`type: expected a string, got ${JSON.stringify(b.type)}`);
      if (requireAll || b.data_base64 !== undefined) {
        if (typeof b.data_base64 !== "string" || !/^[A-Za-z0-9+/=\s]*$/.test(b.data_base64)) errs.push("data_base64: expected base64 text");
      }
      if (errs.length > 0) throw badRequest(`invalid secret: ${errs.join("; ")}`);
      return {
        name: b.name as string | undefined,
        type: (b.type as string | undefined) ?? "opaque",
        value: typeof b.data_base64 === "string" ? Buffer.from(b.data_base64, "base64") : undefined,
      };
    };
    const findSecret = async (id: string, room: string | null) => {
      const s = await d.secrets.getInfo(id);
      if (s === undefined || s.project !== ctx.projectId || s.room !== room) throw notFound(`secret ${JSON.stringify(id)} not found`);
      return s;
    };
    app.post(`${prefix}/secrets`, async (req: Req, reply) => {
      const g = { admin: req.admin!, room: roomOf(req) };
      const b = secretBody(req.body, true);
      const s = await d.secrets.create(ctx.projectId, g.room, b.name!, b.type, b.value!, ctx.clock.now());
      ctx.logger.info({ secret: s.id, name: s.name, room: g.room, by: g.admin.identity }, "secret stored");
      return reply.code(201).send({ id: s.id });
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
      const b = secretBody(req.body, false);
      const fields: { name?: string; type?: string; value?: Buffer } = { type: b.type };
      if (b.name !== undefined) fields.name = b.name;
      if (b.value !== undefined) fields.value = b.value;
      await d.secrets.update(req.params.id!, fields, ctx.clock.now()); // SecretError: 400/404/409 via the error handler
      return reply.code(204).send();
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
    const identity = g.admin.via === "jwt" ? g.admin.identity : g.admin.identity.replace(/^apikey:/, "");
    const jwt = await mintParticipantToken(ctx.secret, {
      room, identity, role: "user", api: defaultApiScope("user"), ttlSeconds: 3600, projectId: ctx.projectId,
      nowSeconds: Math.floor(ctx.clock.now() / 1000),
    });
    const host = req.headers.host ?? "127.0.0.1";
    return { jwt, room_name: room, project_id: ctx.projectId, room_url: `ws://${host}/rooms/${encodeURIComponent(room)}` };
  });

  app.put(`${base}/rooms/:room/settings`, async (req: Req, reply) => {
    const g = { admin: req.admin!, room: roomOf(req) };
    const b = (req.body ?? {}) as Record<string, unknown>;
    const v = b.departure_timeout_seconds;
    if (v !== null && (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 86400)) {
      throw badRequest(`departure_timeout_seconds: expected a number from 0 to 86400 or null, got ${JSON.stringify(v)}`);
    }
    await ctx.roomSettings.setDepartureTimeoutMs(g.room!, v === null ? null : Math.round(v * 1000), ctx.clock.now());
    return reply.code(204).send();
  });
}
