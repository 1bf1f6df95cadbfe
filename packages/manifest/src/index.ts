/**
 * @roomservice/manifest — MeshAgent service manifests (`meshagent.yaml`, `kind: Service`)
 * plus Roomservice's own `roomservice:` section: schema, parsing with actionable errors,
 * JSON Schema for editors, and normalization into what a runtime needs.
 */
export { parseManifest, validateManifestObject, MAX_MANIFEST_BYTES, type ParseResult, type ParseOptions } from "./parse.ts";
export { formatErrors, formatError, formatWarnings, formatPath, type ManifestError, type ManifestWarning } from "./errors.ts";
export { manifestJsonSchema, MANIFEST_SCHEMA_ID } from "./json-schema.ts";
export { checkAgainst, type CheckResult } from "./check.ts";
export {
  normalizeManifest,
  SECRETS_DIR,
  DEFAULT_ROOM_MOUNT,
  MAX_FILE_TEXT_BYTES,
  type NormalizedService,
  type NormalizedEnv,
  type NormalizedPort,
  type NormalizedEndpoint,
  type NormalizedMcpEndpoint,
  type NormalizedProbe,
  type ProbeAction,
  type ApiScopeSpec,
} from "./normalize.ts";
export { parseQuantity, parseCpus, formatBytes, QuantityError } from "./quantity.ts";
export { analyzeCommand, splitCommand, CommandSyntaxError, type CommandAnalysis } from "./command.ts";
export { manifestSchema, type Manifest, type ManifestInput } from "./schema/manifest.ts";
export { ROOM_API_PORT } from "./schema/meshagent.ts";
export { SERVICE_NAME_RE, SERVICE_NAME_RULES, TOOLKIT_NAME_RE, TOOLKIT_NAME_RULES } from "./schema/helpers.ts";
export {
  PROBE_DEFAULTS,
  RESTART_DEFAULTS,
  STOP_DEFAULTS,
  STOP_SIGNALS,
  MIN_PIDS,
  MIN_MEMORY_BYTES,
  type RoomserviceSection,
} from "./schema/roomservice.ts";
