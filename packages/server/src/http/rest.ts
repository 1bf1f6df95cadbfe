import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { validateManifestObject } from "@roomservice/manifest";
import { mintParticipantToken, defaultApiScope } from "../auth/tokens.ts";
import type { ServerContext } from "../context.ts";
import { roomNameError } from "../rooms/room-manager.ts";
import { requireAdmin, type AdminPrincipal } from "../services/admin-auth.ts";
import type { ApiKeyStore } from "../services/api-keys.ts";
import { SecretError, type SecretInfo, type SecretStore } from "../services/secret-store.ts";
import { ServiceConflict, type ServiceRecord, type ServiceStore } from "../services/service-store.ts";
import { portConflictWarnings } from "../services/port-conflicts.ts";

export interface RestDeps {
  ctx: ServerContext;
  services: ServiceStore;
  secrets: SecretStore;
  apiKeys: ApiKeyStore;
}

type Params = { project: string; room?: string; id?: string };
type Req = FastifyRequest<{ Params: Params; Body: unknown }>;

/** A service as the API shows it: the stored manifest plus its id (SDK's ServiceSpec). */
function serviceJson(s: ServiceRecord): Record<string, unknown> {
  return { ...s.spec, id: s.id, version: s.version, room: s.room, created_at: new Date(s.createdAt).toISOString(), updated_at: new Date(s.updatedAt).toISOString() };
}

/** Secret values are write-only: data_base64 is always empty (the SDK requires the field). */
function secretJson(s: SecretInfo): Record<string, unknown> {
  return { id: s.id, name: s.name, type: s.type, room: s.room, data_base64: "", redacted: true, created_at: new Date(s.createdAt).toISOString(), updated_at: new Date(s.updatedAt).toISOString() };
}

/**
 * The REST control plane, shaped like MeshAgent's so the SDK's `Meshagent` client works:
 * project and room services, project and room secrets, room connect. Admin auth on all.
 */
export function registerRestRoutes(app: FastifyInstance, d: RestDeps): void {
  const { ctx } = d;
  const base = "/accounts/projects/:project";

  /** Common preamble: admin auth, project and room checks. */
  async function guard(req: Req, reply: FastifyReply): Promise<{ admin: AdminPrincipal; room: string | null } | undefined> {
    const admin = await requireAdmin(ctx, d.apiKeys, req, reply);
    if (admin === undefined) return undefined;
    if (req.params.project !== ctx.projectId) {
      await reply.code(404).send({ error: `project ${JSON.stringify(req.params.project)} not found; this server hosts project ${JSON.stringify(ctx.projectId)}` });
      return undefined;
    }
    const room = req.params.room ?? null;
    if (room !== null) {
      const err = roomNameError(room);
      if (err !== null) {
        await reply.code(400).send({ error: err });
        return undefined;
      }
    }
    return { admin, room };
  }

  function parseService(body: unknown, reply: FastifyReply): { name: string; spec: Record<string, unknown> } | undefined {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      void reply.code(400).send({ error: "request body must be a service manifest (JSON object)" });
      return undefined;
    }
    const spec = { ...(body as Record<string, unknown>) };
    delete spec.id; // the SDK sends the id on update; the URL is authoritative
    delete spec.version_number;
    const r = validateManifestObject(spec);
    if (!r.ok) {
      void reply.code(400).send({
        error: `invalid service manifest: ${r.errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`,
        errors: r.errors,
      });
      return undefined;
    }
    return { name: r.manifest.metadata.name, spec };
  }

  function findService(id: string, room: string | null, reply: FastifyReply): ServiceRecord | undefined {
    const s = d.services.get(id);
    if (s === undefined || s.project !== ctx.projectId || s.room !== room) {
      void reply.code(404).send({ error: `service ${JSON.stringify(id)} not found${room === null ? " in the project" : ` in room ${JSON.stringify(room)}`}` });
      return undefined;
    }
    return s;
  }

  for (const prefix of [base, `${base}/rooms/:room`]) {
    app.post(`${prefix}/services`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      const parsed = parseService(req.body, reply);
      if (parsed === undefined) return reply;
      try {
        // Checked before the insert, so the new service is not its own neighbour.
        const warnings = portConflictWarnings(d.services, ctx.projectId, g.room, parsed.name, parsed.spec);
        const s = d.services.create(ctx.projectId, g.room, parsed.name, parsed.spec, ctx.clock.now());
        ctx.logger.info({ service: s.id, name: s.name, room: g.room, by: g.admin.identity }, "service created");
        if (warnings.length > 0) ctx.logger.warn({ service: s.id, warnings }, "service shares a port with another service of its room");
        return reply.code(201).send({ id: s.id, warnings });
      } catch (err) {
        if (err instanceof ServiceConflict) return reply.code(409).send({ error: err.message });
        throw err;
      }
    });
    app.get(`${prefix}/services`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      return { services: d.services.list(ctx.projectId, g.room).map(serviceJson) };
    });
    app.get(`${prefix}/services/:id`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      const s = findService(req.params.id!, g.room, reply);
      return s === undefined ? reply : serviceJson(s);
    });
    app.put(`${prefix}/services/:id`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      if (findService(req.params.id!, g.room, reply) === undefined) return reply;
      const parsed = parseService(req.body, reply);
      if (parsed === undefined) return reply;
      try {
        const s = d.services.update(req.params.id!, parsed.name, parsed.spec, ctx.clock.now());
        ctx.logger.info({ service: s.id, version: s.version, by: g.admin.identity }, "service updated (applies at the next session)");
        const warnings = portConflictWarnings(d.services, ctx.projectId, g.room, s.name, parsed.spec);
        if (warnings.length > 0) ctx.logger.warn({ service: s.id, warnings }, "service shares a port with another service of its room");
        return reply.code(204).send();
      } catch (err) {
        if (err instanceof ServiceConflict) return reply.code(409).send({ error: err.message });
        throw err;
      }
    });
    app.delete(`${prefix}/services/:id`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      if (findService(req.params.id!, g.room, reply) === undefined) return reply;
      d.services.delete(req.params.id!);
      return reply.code(204).send();
    });

    // Secrets: { name, type, data_base64 } in; values never come back out.
    const secretBody = (body: unknown, reply: FastifyReply, requireAll: boolean) => {
      const b = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
      const errs: string[] = [];
      if (requireAll || b.name !== undefined) if (typeof b.name !== "string" || b.name.length === 0) errs.push(`name: expected a non-empty string, got ${JSON.stringify(b.name)}`);
      if (b.type !== undefined && typeof b.type !== "string") errs.push(`type: expected a string, got ${JSON.stringify(b.type)}`);
      if (requireAll || b.data_base64 !== undefined) {
        if (typeof b.data_base64 !== "string" || !/^[A-Za-z0-9+/=\s]*$/.test(b.data_base64)) errs.push("data_base64: expected base64 text");
      }
      if (errs.length > 0) {
        void reply.code(400).send({ error: `invalid secret: ${errs.join("; ")}` });
        return undefined;
      }
      return {
        name: b.name as string | undefined,
        type: (b.type as string | undefined) ?? "opaque",
        value: typeof b.data_base64 === "string" ? Buffer.from(b.data_base64, "base64") : undefined,
      };
    };
    const findSecret = (id: string, room: string | null, reply: FastifyReply) => {
      const s = d.secrets.getInfo(id);
      if (s === undefined || s.project !== ctx.projectId || s.room !== room) {
        void reply.code(404).send({ error: `secret ${JSON.stringify(id)} not found` });
        return undefined;
      }
      return s;
    };
    app.post(`${prefix}/secrets`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      const b = secretBody(req.body, reply, true);
      if (b === undefined) return reply;
      try {
        const s = d.secrets.create(ctx.projectId, g.room, b.name!, b.type, b.value!, ctx.clock.now());
        ctx.logger.info({ secret: s.id, name: s.name, room: g.room, by: g.admin.identity }, "secret stored");
        return reply.code(201).send({ id: s.id });
      } catch (err) {
        if (err instanceof SecretError) return reply.code(err.status).send({ error: err.message });
        throw err;
      }
    });
    app.get(`${prefix}/secrets`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      return { secrets: d.secrets.list(ctx.projectId, g.room).map(secretJson) };
    });
    app.get(`${prefix}/secrets/:id`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      const s = findSecret(req.params.id!, g.room, reply);
      return s === undefined ? reply : secretJson(s);
    });
    app.put(`${prefix}/secrets/:id`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      if (findSecret(req.params.id!, g.room, reply) === undefined) return reply;
      const b = secretBody(req.body, reply, false);
      if (b === undefined) return reply;
      const fields: { name?: string; type?: string; value?: Buffer } = { type: b.type };
      if (b.name !== undefined) fields.name = b.name;
      if (b.value !== undefined) fields.value = b.value;
      try {
        d.secrets.update(req.params.id!, fields, ctx.clock.now());
      } catch (err) {
        if (err instanceof SecretError) return reply.code(err.status).send({ error: err.message });
        throw err;
      }
      return reply.code(204).send();
    });
    app.delete(`${prefix}/secrets/:id`, async (req: Req, reply) => {
      const g = await guard(req, reply);
      if (g === undefined) return reply;
      if (findSecret(req.params.id!, g.room, reply) === undefined) return reply;
      d.secrets.delete(req.params.id!);
      return reply.code(204).send();
    });
  }

  app.post(`${base}/rooms/:room/connect`, async (req: Req, reply) => {
    const g = await guard(req, reply);
    if (g === undefined) return reply;
    const room = g.room!;
    const identity = g.admin.via === "jwt" ? g.admin.identity : g.admin.identity.replace(/^apikey:/, "");
    const jwt = await mintParticipantToken(ctx.secret, {
      room, identity, role: "user", api: defaultApiScope("user"), ttlSeconds: 3600, projectId: ctx.projectId,
      nowSeconds: Math.floor(ctx.clock.now() / 1000),
    });
    const host = req.headers.host ?? "127.0.0.1";
    return { jwt, room_name: room, project_id: ctx.projectId, room_url: `ws://${host}/rooms/${encodeURIComponent(room)}` };
  });

  app.get(`${base}/rooms/:room/sessions`, async (req: Req, reply) => {
    const g = await guard(req, reply);
    if (g === undefined) return reply;
    return { sessions: ctx.sessions.list(g.room!) };
  });

  app.put(`${base}/rooms/:room/settings`, async (req: Req, reply) => {
    const g = await guard(req, reply);
    if (g === undefined) return reply;
    const b = (req.body ?? {}) as Record<string, unknown>;
    const v = b.departure_timeout_seconds;
    if (v !== null && (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 86400)) {
      return reply.code(400).send({ error: `departure_timeout_seconds: expected a number from 0 to 86400 or null, got ${JSON.stringify(v)}` });
    }
    ctx.roomSettings.setDepartureTimeoutMs(g.room!, v === null ? null : Math.round(v * 1000), ctx.clock.now());
    return reply.code(204).send();
  });
}
