/**
 * The whole manifest: MeshAgent's fields plus the `roomservice:` section.
 */
import { z } from "zod";
import { meshagentFields } from "./meshagent.ts";
import { roomserviceSchema } from "./roomservice.ts";

export const manifestSchema = z
  .strictObject({
    ...meshagentFields,
    roomservice: roomserviceSchema.prefault({}),
  })
  .describe("A MeshAgent service manifest (meshagent.yaml, kind: Service) with an optional roomservice: section");

/** A parsed manifest, with defaults applied. */
export type Manifest = z.output<typeof manifestSchema>;
/** A manifest as written by people (defaults optional). */
export type ManifestInput = z.input<typeof manifestSchema>;
