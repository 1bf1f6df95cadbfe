import { test } from "node:test";
import assert from "node:assert/strict";
import { manifestJsonSchema } from "../src/index.ts";

type Schema = { properties?: Record<string, Schema>; anyOf?: Schema[]; description?: string; required?: string[]; default?: unknown; additionalProperties?: unknown };

test("the JSON Schema is draft 2020-12 and describes container and roomservice", () => {
  const s = manifestJsonSchema() as Schema & { $schema: string; $id: string };
  assert.equal(s.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.ok(s.$id);
  const props = s.properties!;
  assert.ok(props.container);
  assert.ok(props.roomservice);
  assert.deepEqual(s.required?.sort(), ["container", "kind", "metadata", "version"]);
  assert.equal(s.additionalProperties, false);
  assert.match(props.container.properties!.image.description ?? "", /image/);
  assert.equal(props.enabled.default, true);
  const restart = props.roomservice.properties!.restart.properties!;
  assert.equal(restart.policy.default, "on-failure");
  assert.ok(restart.policy.description);
});

test("the schema is plain JSON (serializable, no functions)", () => {
  const s = manifestJsonSchema();
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
});
