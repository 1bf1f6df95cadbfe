/**
 * The warnings a valid manifest can still deserve, computed the same way for
 * `POST …/services/validate`, service create and service update (REST `warnings`; the CLI
 * prints them as `warning:` lines, Studio shows them): the manifest's own warnings (fields
 * Roomservice ignores, shell commands), an image missing from the Docker host (the service
 * would otherwise only fail at the next session, as FailedStart/BackOff), ports another
 * service of the room declares, and room files another declares with other text.
 */
import type { ManifestWarning } from "@roomservice/manifest";
import { portConflictWarnings } from "./port-conflicts.ts";
import { roomFileConflictWarnings } from "./room-files.ts";
import type { ServiceStore } from "./service-store.ts";

/** One warning as the API shows it: manifest field path, message, and line/column when parsed from text. */
export interface ServiceWarning {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** Whether an image exists where services run (Docker runtime only); absent: not checked. */
export type ImageExists = (image: string) => Promise<boolean>;

/** The manifest's own warnings in the API's shape. */
export function manifestWarningsJson(warnings: readonly ManifestWarning[]): ServiceWarning[] {
  return warnings.map((w) => ({ path: w.path, message: w.message, ...(w.line === undefined ? {} : { line: w.line, column: w.column ?? 1 }) }));
}

/**
 * A warning when `image` is not on the Docker host. A failing check (Docker unreachable) is
 * not a warning: the next session reports the real error.
 */
export async function missingImageWarning(image: unknown, imageExists: ImageExists | undefined): Promise<ServiceWarning[]> {
  if (typeof image !== "string" || imageExists === undefined) return [];
  if (await imageExists(image).catch(() => true)) return [];
  return [{
    path: "container.image",
    message: `image ${image} is not on this Docker host (no registry is used): build it with \`roomservice image build <dir> -t ${image}\` before the next session`,
  }];
}

/**
 * Every warning for a valid manifest about to be stored as service `name` of `room` (null: a
 * project service): manifest warnings, a missing image, then port conflicts. Computed before
 * the write, so a new service is not its own neighbour.
 */
export async function serviceWarnings(a: {
  store: ServiceStore; project: string; room: string | null; name: string; spec: Record<string, unknown>;
  manifestWarnings: readonly ManifestWarning[]; imageExists: ImageExists | undefined;
  /** The id of the service being updated (absent on create). */
  selfId?: string;
}): Promise<ServiceWarning[]> {
  const image = (a.spec.container as { image?: unknown } | undefined)?.image;
  return [
    ...manifestWarningsJson(a.manifestWarnings),
    ...await missingImageWarning(image, a.imageExists),
    ...await portConflictWarnings(a.store, a.project, a.room, a.name, a.spec, a.selfId),
    ...await roomFileConflictWarnings(a.store, a.project, a.room, a.name, a.spec, a.selfId),
  ];
}
