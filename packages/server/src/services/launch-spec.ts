import { dirname } from "node:path";
import { normalizeManifest } from "@roomservice/manifest";
import { checkStoredManifest } from "./stored-manifest.ts";
import { hasMeshagentEndpoint, webhookSecretFor } from "./agent-webhooks.ts";
import { mintParticipantToken, defaultApiScope, type Role } from "../auth/tokens.ts";
import type { ApiScope } from "../auth/scope.ts";
import type { ServerContext } from "../context.ts";
import type { SecretStore } from "./secret-store.ts";
import type { ServiceRecord } from "./service-store.ts";
import type { LaunchSpec } from "./runtime-port.ts";
import { RoomStorage } from "../storage/room-storage.ts";
import { ToolError } from "../toolkits/types.ts";

export const ROOM_API_PORT = 8078;

export class LaunchError extends Error {
  override name = "LaunchError";
}

export interface LaunchContext {
  ctx: ServerContext;
  secrets: SecretStore;
  room: string;
  sessionId: string;
  /** Room storage root on the host (bind-mounted as declared). */
  storageRoot: string;
  /** ws:// URL a service uses to reach the Room API (127.0.0.1:8078 inside the room). */
  roomUrl: string;
}

/**
 * Turns a stored manifest into what the runtime launches: the injected MESHAGENT_* env,
 * declared env values, tokens minted for this service and session, secrets (always as files,
 * as env only when asked), room storage mounts, file mounts and empty dirs.
 */
export async function buildLaunchSpec(rec: ServiceRecord, lc: LaunchContext): Promise<LaunchSpec> {
  // A name stored before the current rules is kept (stored-manifest.ts); other errors fail the start.
  const v = checkStoredManifest(rec.spec);
  if (!v.ok) throw new LaunchError(`stored manifest is invalid: ${v.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
  const m = normalizeManifest(v.manifest);
  const now = Math.floor(lc.ctx.clock.now() / 1000);
  const service = { sessionId: lc.sessionId, serviceId: rec.id };
  // No expiry (issue 12 #15): a service token is bound to its session instead — valid for the
  // whole session however long it runs (automatic restarts reuse it), refused once the session
  // has ended (the handshake and admin auth check the session).
  const mint = (identity: string, role: Role, api?: ApiScope) =>
    mintParticipantToken(lc.ctx.secret, {
      identity, role, room: lc.room, api: api ?? defaultApiScope(role), projectId: lc.ctx.projectId, service, nowSeconds: now,
    });

  // `template: none` adds nothing (issue 12 #25): no MESHAGENT_* variables, no /data mount.
  const env: Record<string, string> = m.template === "agent"
    ? {
        MESHAGENT_ROOM: lc.room,
        MESHAGENT_ROOM_URL: lc.roomUrl,
        MESHAGENT_API_URL: lc.roomUrl.replace(/^ws/, "http"),
        MESHAGENT_SESSION_ID: lc.sessionId,
        MESHAGENT_PROJECT_ID: lc.ctx.projectId,
        MESHAGENT_SERVICE_ID: rec.id,
        MESHAGENT_TOKEN: await mint(m.name, "agent"),
      }
    : {};
  // Values that differ per session: delivered at start, never in the container's config.
  const sessionEnv: string[] = m.template === "agent" ? ["MESHAGENT_SESSION_ID", "MESHAGENT_TOKEN"] : [];
  const secretFiles: Record<string, string> = {};
  const secretEnv: string[] = [];
  const secretValues: string[] = [];
  // A `meshagent` endpoint's room.call webhook is signed with this (services/agent-webhooks.ts),
  // as MeshAgent's WebhookServer expects it in its environment.
  if (hasMeshagentEndpoint(m)) {
    env.MESHAGENT_WEBHOOK_SECRET = webhookSecretFor(lc.ctx.secret, lc.sessionId, rec.id);
    sessionEnv.push("MESHAGENT_WEBHOOK_SECRET");
    secretValues.push(env.MESHAGENT_WEBHOOK_SECRET);
  }
  for (const e of m.environment) {
    if (e.kind === "value") env[e.name] = e.value;
    else if (e.kind === "token") {
      env[e.name] = await mint(e.identity, (e.role ?? "agent") as Role, e.api as ApiScope | undefined);
      sessionEnv.push(e.name);
    }
    else {
      const raw = await lc.secrets.resolveValue(lc.ctx.projectId, lc.room, e.secretId);
      if (raw === undefined) throw new LaunchError(`secret ${JSON.stringify(e.secretId)} (for ${e.name}) does not exist; create it with: roomservice secret set ${e.secretId}`);
      let value = raw.toString("utf8");
      if (e.key !== undefined) {
        let obj: unknown;
        try {
          obj = JSON.parse(value);
        } catch {
          throw new LaunchError(`secret ${JSON.stringify(e.secretId)} is not JSON, so key ${JSON.stringify(e.key)} cannot be read from it`);
        }
        const picked = (obj as Record<string, unknown> | null)?.[e.key];
        if (typeof picked !== "string") throw new LaunchError(`secret ${JSON.stringify(e.secretId)} has no string key ${JSON.stringify(e.key)}`);
        value = picked;
      }
      secretFiles[e.name] = value;
      if (value.length >= 4) secretValues.push(value);
      // Never put into `env`: the runtime exports it inside the container so that
      // `docker inspect` does not show it.
      if (e.asEnv) secretEnv.push(e.name);
    }
  }
  const mounts: LaunchSpec["mounts"] = [];
  for (const s of m.storageMounts) {
    // Created through held directory fds: a symlink a service planted in /data is refused.
    let hostPath: string;
    try {
      hostPath = await new RoomStorage(dirname(lc.storageRoot)).mountSource(s.subpath ?? "");
    } catch (err) {
      if (err instanceof ToolError) throw new LaunchError(`storage mount ${JSON.stringify(s.subpath)}: ${err.message}`);
      throw err;
    }
    mounts.push({ hostPath, containerPath: s.path, readOnly: s.readOnly });
  }
  const spec: LaunchSpec = {
    serviceId: rec.id,
    name: m.name,
    image: m.image,
    env,
    sessionEnv,
    secretFiles,
    secretEnv,
    mounts,
    // Written by the runtime per container (never into room storage); the room files of
    // `files:` are created by the launcher through RoomStorage (room-files.ts).
    fileMounts: m.fileMounts.map((f) => ({ containerPath: f.path, text: f.text, readOnly: f.readOnly })),
    emptyDirs: m.emptyDirs.map((d) => ({ containerPath: d.path, readOnly: d.readOnly })),
    ports: m.ports.map((p) => (p.liveness === undefined ? { num: p.num, type: p.type } : { num: p.num, type: p.type, livenessPath: p.liveness })),
    probes: m.probes,
    restart: m.restart,
    stop: m.stop,
    resources: m.resources,
    writableRootFs: m.writableRootFs,
    secretValues,
  };
  if (m.command !== undefined) spec.command = m.command;
  if (m.workingDir !== undefined) spec.workingDir = m.workingDir;
  return spec;
}
