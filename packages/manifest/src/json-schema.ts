/**
 * A JSON Schema for editors (VS Code's YAML extension, JetBrains): completion, hover docs
 * and red squiggles for typos while writing meshagent.yaml. Generated from the zod schema so
 * it cannot drift from what the server accepts; cross-field rules (duplicate names, probe
 * port defaults) are only checked by the server and the CLI.
 */
import { z } from "zod";
import { manifestSchema } from "./schema/manifest.ts";

export const MANIFEST_SCHEMA_ID = "https://roomservice.dev/schemas/meshagent-service.json";

/** A JSON Schema (draft 2020-12) describing a manifest as people write it. */
export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(manifestSchema, {
    target: "draft-2020-12",
    // describe what people write (defaults optional), not the parsed output
    io: "input",
    // refinements and transforms cannot be expressed; their base types still are
    unrepresentable: "any",
    // Fields whose default replaces null as well (withDefault) are transforms, whose
    // default zod cannot show in input mode; their meta() carries it instead.
    override: (ctx) => {
      const meta = z.globalRegistry.get(ctx.zodSchema) as { default?: unknown } | undefined;
      const js = ctx.jsonSchema as Record<string, unknown>;
      if (meta?.default !== undefined && js.default === undefined) js.default = meta.default;
    },
  }) as Record<string, unknown>;
  return { ...schema, $id: MANIFEST_SCHEMA_ID, title: "Roomservice / MeshAgent service manifest" };
}
