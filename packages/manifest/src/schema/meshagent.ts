/**
 * The MeshAgent part of a service manifest (`meshagent.yaml`, `kind: Service`), field for
 * field as MeshAgent defines it (its pydantic `ServiceSpec` and the TypeScript SDK's
 * `ServiceSpec`), so that existing manifests are accepted unchanged.
 *
 * Every object is strict: MeshAgent forbids extra fields too, and a typo such as `imag:`
 * must be an error with a suggestion, not a silently ignored setting. Fields MeshAgent has
 * but Roomservice does not act on are accepted here and reported as warnings by
 * ../warnings.ts, never dropped silently.
 */
import { z } from "zod";
import { containerPath, customIssue, dnsLabel, headerName, httpPath, nullable, participantName, storagePath, stringMap, subPath, toolkitName, withDefault } from "./helpers.ts";

/** The in-room API listens here in every room; a service cannot take it. */
export const ROOM_API_PORT = 8078;

// ---------------------------------------------------------------------------------------
// API scopes (the `api` grant of participant tokens)

/**
 * Each grant's inner fields (e.g. `storage.paths`, `messaging.send`) are interpreted by the
 * room's auth code, which owns their semantics; here only the grant names are checked so a
 * misspelt grant ("mesaging") is caught. `{}` means "granted with defaults", `null` "not granted".
 */
const grant = nullable(z.looseObject({}));

export const apiScopeSchema = z
  .strictObject({
    livekit: grant,
    queues: grant,
    messaging: grant,
    dataset: grant,
    // MeshAgent accepts these two spellings as aliases of `dataset`
    database: grant,
    datasets: grant,
    sqlite: grant,
    memory: grant,
    sync: grant,
    storage: grant,
    containers: grant,
    developer: grant,
    agents: grant,
    llm: grant,
    admin: grant,
    secrets: grant,
    tunnels: grant,
    services: grant,
  })
  .describe("API permissions (grants) for a participant token; omit to use the role's defaults");

// ---------------------------------------------------------------------------------------
// container.environment

const tokenValueSchema = z
  .strictObject({
    identity: participantName("the participant name to put in the token"),
    role: nullable(z.enum(["user", "agent", "tool"])).describe("participant role; defaults to agent"),
    api: nullable(apiScopeSchema),
  })
  .describe("set the variable to a participant token for this room, minted at each session start");

const secretValueSchema = z
  .strictObject({
    id: z.string().min(1).describe("the id or name of a project or room secret"),
    key: nullable(z.string().min(1)).describe("Roomservice: for a secret holding a JSON object, the field to use"),
  })
  .describe("set the variable from a stored secret; also delivered as a file under /run/secrets");

/** POSIX-ish: also keeps secret file names under /run/secrets safe. */
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export const environmentVariableSchema = z
  .strictObject({
    name: z
      .string()
      .superRefine((n, ctx) => {
        if (!ENV_NAME_RE.test(n)) {
          ctx.addIssue(customIssue("is not a valid environment variable name", { expected: "letters, digits and _ (also . or -), not starting with a digit" }));
        }
      })
      .describe("the environment variable name"),
    value: nullable(z.string()).describe("a literal value (quote numbers in YAML: \"8080\")"),
    token: nullable(tokenValueSchema),
    secret: nullable(secretValueSchema),
  })
  .superRefine((e, ctx) => {
    const given = (["value", "token", "secret"] as const).filter((k) => e[k] !== undefined && e[k] !== null);
    if (given.length === 1) return;
    ctx.addIssue(
      customIssue(
        given.length === 0
          ? `no value given for ${JSON.stringify(e.name)} (write value: "" for an empty variable)`
          : `${given.join(" and ")} are both set; a variable takes exactly one of them`,
        { expected: "exactly one of value, token or secret", received: given.length === 0 ? "none of them" : given.join(" and ") },
      ),
    );
  })
  .describe("an environment variable: exactly one of value, token or secret");

// ---------------------------------------------------------------------------------------
// container.storage

const roomMountSchema = z
  .strictObject({
    path: containerPath("where room storage appears inside the container"),
    subpath: nullable(subPath("mount only this folder of room storage")),
    read_only: withDefault(z.boolean(), false, "mount read-only"),
  })
  .describe("mounts the room's storage (or a folder of it) into the container");

const projectMountSchema = z.strictObject({
  path: containerPath("where project storage appears inside the container"),
  subpath: nullable(subPath("mount only this folder")),
  read_only: withDefault(z.boolean(), true, "mount read-only"),
});

const volumeMountSchema = z.strictObject({
  name: dnsLabel("the volume's name"),
  path: containerPath("mount point"),
  subpath: nullable(subPath("mount only this folder")),
  read_only: withDefault(z.boolean(), false, "mount read-only"),
});

const imageMountSchema = z.strictObject({
  image: z.string().min(1).describe("image whose contents are mounted"),
  path: containerPath("mount point"),
  subpath: nullable(subPath("mount only this folder of the image")),
  read_only: withDefault(z.boolean(), true, "mount read-only"),
});

const fileMountSchema = z
  .strictObject({
    path: containerPath("where the file appears"),
    text: z.string().describe("the file's contents"),
    read_only: withDefault(z.boolean(), true, "mount read-only"),
  })
  .describe("a static file placed in the container");

const emptyDirMountSchema = z
  .strictObject({
    path: containerPath("where the directory appears"),
    read_only: withDefault(z.boolean(), false, "mount read-only"),
  })
  .describe("a writable scratch directory, emptied at every start");

const configMountSchema = z.strictObject({
  path: withDefault(containerPath("folder for MeshAgent runtime files"), "/var/run/meshagent", "folder for MeshAgent runtime files (spec.json, members.json)"),
});

export const storageSchema = z
  .strictObject({
    room: nullable(z.array(roomMountSchema)),
    project: nullable(z.array(projectMountSchema)),
    volumes: nullable(z.array(volumeMountSchema)),
    images: nullable(z.array(imageMountSchema)),
    files: nullable(z.array(fileMountSchema)),
    empty_dirs: nullable(z.array(emptyDirMountSchema)),
    configs: nullable(z.array(configMountSchema)),
  })
  .describe("storage mounted into the container");

// ---------------------------------------------------------------------------------------
// container

const secretRefSchema = z.strictObject({ id: z.string().min(1) });

export const containerSchema = z
  .strictObject({
    image: z
      .string()
      .min(1)
      .superRefine((s, ctx) => {
        if (/\s/.test(s)) {
          ctx.addIssue(customIssue("must not contain spaces (put arguments in command)", { expected: 'an image reference such as "my-agent:1.0"' }));
        }
      })
      .describe("the container image to run, e.g. my-agent:1.0"),
    command: nullable(z.union([z.string(), z.array(z.string()).min(1)])).describe(
      "the command to run instead of the image's default: a string split into arguments like a shell would (no shell runs it), or a list of arguments",
    ),
    working_dir: nullable(containerPath("the working directory of the command")),
    environment: nullable(z.array(environmentVariableSchema)).describe("environment variables for this service only"),
    storage: nullable(storageSchema),
    writable_root_fs: nullable(z.boolean()).describe("allow writes outside mounts; the root filesystem is read-only by default"),
    template: withDefault(
      z.enum(["agent", "none"]),
      "agent",
      "'agent' (default) mounts room storage at /data and injects the MESHAGENT_* variables; 'none' applies no defaults",
    ),
    // Accepted for compatibility; Roomservice does not act on these (see warnings.ts).
    run_as: nullable(z.strictObject({ email: z.string(), scopes: nullable(z.array(z.string())) })).describe("MeshAgent service account; ignored by Roomservice"),
    pull_secret: nullable(z.union([secretRefSchema, z.string()])).describe("registry credentials; ignored by Roomservice (images are local)"),
    secrets: nullable(z.array(z.string())).describe("legacy MeshAgent field; use environment[].secret"),
    on_demand: nullable(z.boolean()).describe("MeshAgent on-demand service; ignored by Roomservice"),
    private: withDefault(z.boolean(), true, "MeshAgent visibility flag; ignored by Roomservice"),
    api_key: nullable(z.strictObject({ role: z.literal("admin"), name: z.string(), auto_provision: nullable(z.boolean()) })).describe(
      "legacy MeshAgent field; ignored by Roomservice",
    ),
  })
  .describe("the container that runs the service");

// ---------------------------------------------------------------------------------------
// ports

const mcpEndpointSchema = z
  .strictObject({
    label: toolkitName("the name of the room toolkit the MCP server's tools appear under (unique in the room)"),
    description: nullable(z.string()),
    allowed_tools: nullable(
      z.array(z.strictObject({ tool_names: nullable(z.array(z.string())), read_only: nullable(z.boolean()) })),
    ).describe("limit which tools are exposed"),
    headers: nullable(z.record(headerName, z.string())).describe("HTTP headers sent with every MCP request"),
    require_approval: nullable(z.enum(["always", "never"])),
    oauth: nullable(
      z.strictObject({
        client_id: nullable(z.string()),
        client_secret: nullable(z.string()),
        authorization_endpoint: nullable(z.string()),
        token_endpoint: nullable(z.string()),
        no_pkce: nullable(z.boolean()),
        scopes: nullable(z.array(z.string())),
      }),
    ),
    openai_connector_id: nullable(z.string()),
    use_proxy_secret: nullable(z.string()),
  })
  .describe("expose an MCP server (streamable HTTP) at this path as a toolkit in the room");

const meshagentEndpointSchema = z
  .strictObject({
    identity: participantName("participant name for the token handed to this endpoint"),
    api: nullable(apiScopeSchema),
  })
  .describe("call this endpoint when the service starts so it can join the room as an agent or toolkit");

const endpointSchema = z.strictObject({
  path: httpPath("HTTP path of the endpoint, e.g. /mcp"),
  mcp: nullable(mcpEndpointSchema),
  meshagent: nullable(meshagentEndpointSchema),
  annotations: nullable(stringMap),
});

export const portSchema = z
  .strictObject({
    num: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .superRefine((n, ctx) => {
        if (n === ROOM_API_PORT) {
          ctx.addIssue(customIssue(`${ROOM_API_PORT} is reserved for the in-room API`, { expected: `a port other than ${ROOM_API_PORT}` }));
        }
      })
      .describe(`the port the service listens on inside the room (1-65535; ${ROOM_API_PORT} is the in-room API)`),
    type: withDefault(z.enum(["http", "tcp"]), "http", "protocol spoken on the port"),
    liveness: nullable(httpPath("HTTP path answering 200-399 when the port is ready")).describe("HTTP path answering 200-399 when the port is ready; drives the port's liveness_status"),
    endpoints: withDefault(z.array(endpointSchema), [], "HTTP endpoints on this port: MCP servers and MeshAgent agent/toolkit handoffs"),
    host_port: nullable(z.number().int().positive()).describe("MeshAgent host publishing; ignored by Roomservice"),
    published: nullable(z.boolean()).describe("MeshAgent internet routing; ignored by Roomservice"),
    public: nullable(z.boolean()).describe("MeshAgent public access; ignored by Roomservice"),
    annotations: nullable(stringMap),
  })
  .describe("a port the service listens on");

// ---------------------------------------------------------------------------------------
// metadata, agents, files, external

export const metadataSchema = z.strictObject({
  name: dnsLabel("the service name, unique in a room: a DNS label (lowercase letters, digits and -)"),
  description: nullable(z.string()),
  repo: nullable(z.string()),
  icon: nullable(z.string()),
  annotations: nullable(stringMap),
});

/**
 * Agents a service exposes (MeshAgent's agent directory). Channels, email and heartbeat are
 * MeshAgent platform features; they are kept as given for whoever lists them.
 */
export const agentSchema = z.strictObject({
  name: participantName("the participant name the agent joins the room as (the identity of one of the service's tokens)"),
  description: nullable(z.string()),
  annotations: nullable(stringMap),
  channels: nullable(z.looseObject({})),
  email: nullable(z.looseObject({})),
  heartbeat: nullable(z.looseObject({})),
});

export const serviceFileSchema = z
  .strictObject({ path: storagePath("where the file goes in room storage"), text: z.string() })
  .describe("a file created in room storage if it does not exist yet");

export const externalSchema = z
  .strictObject({ url: nullable(z.string()) })
  .superRefine((_v, ctx) => {
    ctx.addIssue(
      customIssue("external services are not supported: Roomservice runs container services only", {
        expected: "a container section instead",
        received: "an external service",
      }),
    );
  });

/** Top-level MeshAgent fields (the Roomservice section is added in manifest.ts). */
export const meshagentFields = {
  version: z.literal("v1").describe('manifest format version; always "v1"'),
  kind: z.literal("Service").describe('always "Service"'),
  id: nullable(z.string()).describe("assigned by the server; ignored when given"),
  enabled: withDefault(z.boolean(), true, "whether the service starts with the room's sessions"),
  metadata: metadataSchema,
  agents: nullable(z.array(agentSchema)),
  ports: withDefault(z.array(portSchema), [], "ports the service listens on inside the room"),
  files: nullable(z.array(serviceFileSchema)),
  container: containerSchema,
  external: nullable(externalSchema),
};
