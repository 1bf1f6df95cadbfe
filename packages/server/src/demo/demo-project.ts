/**
 * The demo project (issue 9): on a fresh data directory `serve` sets up a room named `demo`
 * whose services are the examples — chat-agent (built-in responder until a model is
 * configured), mcp-tools, pipeline, and crm-sync with its stand-in CRM — so the Quick start
 * shows the product working at once. Their images are built on first use by ExampleImages.
 *
 * Idempotent across restarts, and it never takes back what the operator changed: each demo
 * service is created once (recorded in the store's `installation_state` row `demo`, next to
 * the services themselves, so the nodes of a cluster sharing one PostgreSQL set the demo up
 * once between them); one that exists by name is left alone, one the operator deleted is not
 * recreated, edits are never overwritten. Releases before schema 6 kept the marker in
 * `<data>/demo.json`: it is moved into the store on the first run.
 *
 * Upgrades: when a release improves an example's manifest (say, a new readiness probe), an
 * existing install gets it for every demo service the operator has not edited — the marker
 * records the revision the demo last wrote, and a service still at that revision is updated
 * to the current manifest (a new revision; the previous one stays in the service's history).
 * An edited service (a later revision) is left alone, and the log says which were which.
 * Markers written before revisions were recorded count a service as the demo's own when it
 * is still at revision 1 with the demo's image (the demo created revision 1; an operator's
 * own service of that name would name its own image).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { formatErrors, parseManifest, validateManifestObject } from "@roomservice/manifest";
import type { SecretStore } from "../services/secret-store.ts";
import type { ServiceRecord, ServiceStore } from "../services/service-store.ts";
import type { Store } from "../store/db.ts";
import { InstallationState } from "../store/installation-state.ts";

export const DEMO_ROOM = "demo";
/**
 * Where releases before schema 6 recorded which demo services were created, in the data
 * directory; now only read once, to move it into the store (DEMO_STATE).
 */
export const DEMO_MARKER = "demo.json";
/** The `installation_state` row recording which demo services were created (name → id). */
export const DEMO_STATE = "demo";
/** The room secret the demo's crm-sync reads and its stand-in CRM checks (by SHA-256). */
export const DEMO_CRM_SECRET = "crm-api-key";

/**
 * The demo's services, in start order of interest, each an example directory whose
 * meshagent.yaml is used as written except for the image (and the stand-in's key hash).
 */
export const DEMO_EXAMPLES = ["chat-agent", "mcp-tools", "pipeline", "crm-standin", "crm-sync"] as const;
/**
 * Opt-in (`serve --demo-voice`): its Debian base image takes minutes to debootstrap on first
 * use, needs Debian's mirror and root, and the service holds 512 MiB.
 */
export const DEMO_VOICE = "voice";

interface DemoMarker {
  room: string;
  /** Service name → the id it was created with (or found under). */
  services: Record<string, string>;
  /**
   * Service name → the revision the demo itself last wrote (created or upgraded); absent for a
   * service the demo found (an operator's) and in markers of earlier releases.
   */
  revisions?: Record<string, number>;
  updated_at: string;
}

export interface DemoDeps {
  /** Where a pre-schema-6 `demo.json` may still be (moved into the store, then removed). */
  dataDir: string;
  /** The control plane: the marker lives there, and the set-up runs under its lock. */
  store: Store;
  projectId: string;
  services: ServiceStore;
  secrets: SecretStore;
  logger: Logger;
  /** The stable image tag for an example (ExampleImages.tagFor). */
  imageFor(example: string): string;
  root: string;
  /** Add the voice example too (opt-in: see DEMO_VOICE). */
  voice?: boolean;
  now?: () => number;
}

/** What setUpDemo did: services it created now, and those it left as they were. */
export interface DemoResult {
  room: string;
  created: string[];
  kept: string[];
  /** Demo services the operator deleted earlier (not recreated). */
  removed: string[];
  /** Examples whose manifest did not validate (with why); not created. */
  invalid: { name: string; error: string }[];
  /** Demo services brought up to the current example's manifest (the operator had not edited them). */
  updated: string[];
  /** Demo services the operator edited: left as they are although the example changed (or may have). */
  edited: string[];
}

function parseMarker(text: string | undefined): DemoMarker | null {
  if (text === undefined) return null;
  try {
    const m = JSON.parse(text) as Partial<DemoMarker>;
    if (typeof m.services === "object" && m.services !== null) {
      return { room: m.room ?? DEMO_ROOM, services: m.services, ...(typeof m.revisions === "object" && m.revisions !== null ? { revisions: m.revisions } : {}), updated_at: m.updated_at ?? "" };
    }
  } catch {
    // damaged: treated as absent; services that exist by name are still never duplicated
  }
  return null;
}

/** The stored marker; a pre-schema-6 `<data>/demo.json` when the store has none yet. */
async function readMarker(state: InstallationState, legacyFile: string): Promise<DemoMarker | null> {
  const stored = await state.get(DEMO_STATE);
  if (stored !== undefined) return parseMarker(stored);
  return existsSync(legacyFile) ? parseMarker(readFileSync(legacyFile, "utf8")) : null;
}

/**
 * The demo's manifest for an example: its meshagent.yaml with the demo's image tag (and, for
 * the stand-in CRM, the SHA-256 of the demo's key). Throws with the located errors when the
 * result does not validate.
 */
export function demoManifest(root: string, example: string, image: string, crmKeySha256: string | null): Record<string, unknown> {
  const file = join(root, "examples", example, "meshagent.yaml");
  const parsed = parseManifest(readFileSync(file, "utf8"), { filename: file });
  if (!parsed.ok) throw new Error(`${file}: ${formatErrors(parsed.errors)}`);
  const raw = structuredClone(parsed.raw) as { container: { image: string; environment?: { name: string; value?: string }[] } };
  raw.container.image = image;
  if (example === "crm-standin") {
    const env = raw.container.environment?.find((e) => e.name === "CRM_KEY_SHA256");
    if (env === undefined || crmKeySha256 === null) throw new Error(`${file}: expected a CRM_KEY_SHA256 environment entry`);
    env.value = crmKeySha256;
  }
  const v = validateManifestObject(raw);
  if (!v.ok) throw new Error(`${file} (with image ${image}): ${formatErrors(v.errors)}`);
  return raw as unknown as Record<string, unknown>;
}

/** The demo CRM key's SHA-256: the room (or project) secret's, made (random) when absent. */
async function crmKeyHash(d: DemoDeps, now: number): Promise<string> {
  let key = await d.secrets.resolveValue(d.projectId, DEMO_ROOM, DEMO_CRM_SECRET);
  if (key === undefined) {
    key = Buffer.from(`crm_demo_${randomBytes(18).toString("hex")}`);
    await d.secrets.set(d.projectId, DEMO_ROOM, DEMO_CRM_SECRET, "opaque", key, now);
  }
  return createHash("sha256").update(key).digest("hex");
}

/**
 * Creates the demo room's services that were never created before (see the module comment).
 * Runs under the store's `demo` lock: nodes starting together on one database take turns,
 * and the later ones find the services by name (kept) instead of racing to create them.
 */
export function setUpDemo(d: DemoDeps): Promise<DemoResult> {
  return d.store.exclusive("demo", () => setUpDemoLocked(d));
}

async function setUpDemoLocked(d: DemoDeps): Promise<DemoResult> {
  const now = (d.now ?? Date.now)();
  const state = new InstallationState(d.store);
  const legacyFile = join(d.dataDir, DEMO_MARKER);
  const marker: DemoMarker = (await readMarker(state, legacyFile)) ?? { room: DEMO_ROOM, services: {}, updated_at: "" };
  const result: DemoResult = { room: DEMO_ROOM, created: [], kept: [], removed: [], invalid: [], updated: [], edited: [] };
  const legacyMarker = marker.revisions === undefined && Object.keys(marker.services).length > 0;
  const revisions = (marker.revisions ??= {});
  const existing = await d.services.forRoom(d.projectId, DEMO_ROOM);
  for (const example of d.voice === true ? [...DEMO_EXAMPLES, DEMO_VOICE] : DEMO_EXAMPLES) {
    const found = existing.find((r) => r.name === example);
    if (found !== undefined) {
      const recorded = marker.services[example];
      marker.services[example] ??= found.id;
      result.kept.push(example);
      const spec = async () => demoManifest(d.root, example, d.imageFor(example), example === "crm-standin" ? await crmKeyHash(d, now) : null);
      if (recorded === found.id) await upgrade(d, { example, found, revisions, legacyMarker, result, spec, now });
      continue;
    }
    if (marker.services[example] !== undefined) {
      result.removed.push(example);
      continue;
    }
    let spec: Record<string, unknown>;
    try {
      spec = demoManifest(d.root, example, d.imageFor(example), example === "crm-standin" ? await crmKeyHash(d, now) : null);
    } catch (err) {
      result.invalid.push({ name: example, error: (err as Error).message });
      d.logger.error({ example, err: (err as Error).message }, "demo: an example's manifest is invalid; not created");
      continue;
    }
    const rec = await d.services.create(d.projectId, DEMO_ROOM, example, spec, now);
    marker.services[example] = rec.id;
    revisions[example] = rec.version;
    result.created.push(example);
  }
  marker.updated_at = new Date(now).toISOString();
  await state.put(DEMO_STATE, JSON.stringify(marker), now);
  // Moved into the store: the file would only mislead (the store is the record now).
  rmSync(legacyFile, { force: true });
  if (result.created.length > 0) d.logger.info({ room: DEMO_ROOM, created: result.created }, `demo: room ${DEMO_ROOM} set up with ${result.created.join(", ")} (serve --no-demo turns the demo off)`);
  if (result.removed.length > 0) d.logger.info({ room: DEMO_ROOM, removed: result.removed }, "demo: services you deleted from the demo room are not recreated");
  if (result.updated.length > 0) d.logger.info({ room: DEMO_ROOM, updated: result.updated }, `demo: updated ${result.updated.join(", ")} to this release's example manifests (you had not edited them; the previous revision stays in each service's history)`);
  if (result.edited.length > 0) {
    d.logger.info({ room: DEMO_ROOM, edited: result.edited }, `demo: left ${result.edited.join(", ")} as you edited them; this release's manifests are in examples/<name>/meshagent.yaml (apply one with: roomservice service update -f examples/<name>/meshagent.yaml --room ${DEMO_ROOM}, after setting its image to the one your service uses)`);
  }
  return result;
}

/** Stable JSON (object keys sorted), to compare manifests whatever order their keys were written in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * Brings one existing demo service (the one the marker recorded) up to this release's example
 * manifest when the operator has not edited it (see the module comment); records which it
 * was in `result`.
 */
async function upgrade(d: DemoDeps, u: {
  example: string; found: ServiceRecord; revisions: Record<string, number>; legacyMarker: boolean;
  result: DemoResult; spec: () => Promise<Record<string, unknown>>; now: number;
}): Promise<void> {
  const { example, found } = u;
  let wrote = u.revisions[example];
  if (wrote === undefined) {
    if (!u.legacyMarker) return; // found by name, never the demo's own
    const image = (found.spec.container as { image?: unknown } | undefined)?.image;
    if (found.version !== 1 || image !== d.imageFor(example)) {
      u.result.edited.push(example);
      return;
    }
    wrote = 1;
  }
  if (found.version !== wrote) {
    u.result.edited.push(example);
    return;
  }
  let spec: Record<string, unknown>;
  try {
    spec = await u.spec();
  } catch (err) {
    u.result.invalid.push({ name: example, error: (err as Error).message });
    d.logger.error({ example, err: (err as Error).message }, "demo: an example's manifest is invalid; the demo service is left as it is");
    return;
  }
  if (canonical(spec) === canonical(found.spec)) {
    u.revisions[example] = found.version;
    return;
  }
  const rec = await d.services.update(found.id, example, spec, u.now);
  u.revisions[example] = rec.version;
  u.result.updated.push(example);
}
