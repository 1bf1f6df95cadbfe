import { ToolError } from "../types.ts";

/**
 * MeshSchema: the JSON Schema dialect MeshAgent uses to describe a document's element tree
 * (see the SDK's `dist/node/schema.js`, `MeshSchema.toJson`/`fromJson`). Shape:
 *
 * ```
 * { "$root_tag_ref": "#/$defs/<root>", "$defs": { "<tag>": ElementJson, ... }, ...root ElementJson }
 * ElementJson = { type: "object", required: ["<tag>"], description?,
 *                 properties: { "<tag>": { type: "object", properties: { <attr>: ValueJson | ChildJson } } } }
 * ValueJson   = { type: "string"|"number"|"boolean"|"null" | [<type>, "null"], enum?: [...] }
 * ChildJson   = { type: "array", items: { anyOf: [{ $ref: "#/$defs/<tag>" }] } }        (unordered)
 *             | { type: "array", prefixItems: [{ $ref: "#/$defs/<tag>" }], items: false } (ordered slots)
 * ```
 * An element has at most one child property. `$id` is an implicit attribute of every element.
 */
export interface CompiledSchema {
  rootTag: string;
  elements: Map<string, ElementRule>;
  /** The JSON the schema came from, returned to clients in the `state` header. */
  json: Record<string, unknown>;
}

export interface ElementRule {
  tag: string;
  attributes: Map<string, AttributeRule>;
  /** Name of the child property, when the element may have children. */
  childProperty: string | null;
  childTags: Set<string>;
  /** Ordered (prefixItems) children: one slot per tag, created with the document. */
  orderedChildren: string[] | null;
}

export interface AttributeRule {
  types: Set<string>;
  enumValues: unknown[] | null;
}

export class SchemaError extends ToolError {
  constructor(message: string) {
    super(message, 400);
  }
}

const REF_PREFIX = "#/$defs/";

function refTag(ref: unknown, where: string): string {
  if (typeof ref !== "string") throw new SchemaError(`schema: ${where}.$ref must be a string, got ${typeof ref}`);
  return ref.startsWith(REF_PREFIX) ? ref.slice(REF_PREFIX.length) : ref;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses MeshSchema JSON; errors name the JSON path that is wrong. `source` says where it came from. */
export function compileSchema(json: unknown, source: string): CompiledSchema {
  if (!isObject(json)) throw new SchemaError(`schema ${source}: expected a JSON object, got ${Array.isArray(json) ? "an array" : typeof json}`);
  const rootTag = refTag(json["$root_tag_ref"], `${source}: $root_tag_ref`);
  const defs = json["$defs"];
  if (!isObject(defs)) throw new SchemaError(`schema ${source}: "$defs" must be an object of element definitions`);
  const elements = new Map<string, ElementRule>();
  for (const [defName, el] of Object.entries(defs)) {
    const at = `${source}: $defs.${defName}`;
    if (!isObject(el) || !isObject(el.properties)) throw new SchemaError(`schema ${at}: expected {properties: {<tag>: ...}}`);
    const entries = Object.entries(el.properties);
    if (entries.length !== 1) throw new SchemaError(`schema ${at}.properties: expected exactly one tag, got ${entries.length}`);
    const [tag, body] = entries[0]!;
    if (!isObject(body)) throw new SchemaError(`schema ${at}.properties.${tag}: expected an object`);
    const props = isObject(body.properties) ? body.properties : {};
    const rule: ElementRule = { tag, attributes: new Map(), childProperty: null, childTags: new Set(), orderedChildren: null };
    for (const [name, p] of Object.entries(props)) {
      const pat = `${at}.properties.${tag}.properties.${name}`;
      if (!isObject(p)) throw new SchemaError(`schema ${pat}: expected an object`);
      const t = p.type;
      const first = Array.isArray(t) ? t[0] : t;
      if (first === "array") {
        if (rule.childProperty !== null) throw new SchemaError(`schema ${pat}: element "${tag}" already has child property "${rule.childProperty}" (only one is allowed)`);
        rule.childProperty = name;
        if (Array.isArray(p.prefixItems)) {
          rule.orderedChildren = p.prefixItems.map((r, i) => refTag(isObject(r) ? r.$ref : undefined, `${pat}.prefixItems[${i}]`));
          for (const c of rule.orderedChildren) rule.childTags.add(c);
        } else if (isObject(p.items) && Array.isArray(p.items.anyOf)) {
          p.items.anyOf.forEach((r, i) => rule.childTags.add(refTag(isObject(r) ? r.$ref : undefined, `${pat}.items.anyOf[${i}]`)));
        } else throw new SchemaError(`schema ${pat}: an array property needs "prefixItems" or "items.anyOf" of $refs`);
        continue;
      }
      const types = new Set<string>((Array.isArray(t) ? t : [t]).map(String));
      for (const ty of types) {
        if (!["string", "number", "boolean", "null"].includes(ty)) throw new SchemaError(`schema ${pat}.type: expected string, number, boolean or null, got ${JSON.stringify(ty)}`);
      }
      rule.attributes.set(name, { types, enumValues: Array.isArray(p.enum) ? p.enum : null });
    }
    if (elements.has(tag)) throw new SchemaError(`schema ${at}: tag "${tag}" is defined more than once`);
    elements.set(tag, rule);
  }
  if (!elements.has(rootTag)) throw new SchemaError(`schema ${source}: root tag "${rootTag}" is not defined in $defs (defined: ${[...elements.keys()].join(", ")})`);
  for (const rule of elements.values()) {
    for (const c of rule.childTags) {
      if (!elements.has(c)) throw new SchemaError(`schema ${source}: element "${rule.tag}" allows child "${c}", which is not defined in $defs`);
    }
  }
  return { rootTag, elements, json };
}

/** A violation message for an attribute value, or null when it is allowed. Null always is (unset). */
export function attributeViolation(rule: ElementRule, name: string, value: unknown): string | null {
  if (name === "$id") return typeof value === "string" ? null : `attribute "$id" of element "${rule.tag}" must be a string, got ${typeof value}`;
  const a = rule.attributes.get(name);
  if (a === undefined) {
    const known = ["$id", ...rule.attributes.keys()].join(", ");
    return `element "${rule.tag}" has no attribute "${name}" in the schema (allowed: ${known})`;
  }
  if (value === null || value === undefined) return null;
  const ty = typeof value;
  if (!a.types.has(ty)) return `attribute "${name}" of element "${rule.tag}" must be ${[...a.types].join(" or ")}, got ${ty}`;
  if (a.enumValues !== null && !a.enumValues.includes(value)) {
    return `attribute "${name}" of element "${rule.tag}" must be one of ${JSON.stringify(a.enumValues)}, got ${JSON.stringify(value)}`;
  }
  return null;
}

type Def = { description: string; attributes?: Record<string, { type: string; nullable?: boolean; enum?: string[]; description: string }>; children?: { name: string; tags: string[]; ordered?: boolean; description: string } };

/** Builds MeshSchema JSON (the SDK's `MeshSchema.toJson` layout) from a compact description. */
export function buildSchemaJson(rootTag: string, defs: Record<string, Def>): Record<string, unknown> {
  const element = (tag: string, d: Def): Record<string, unknown> => {
    const properties: Record<string, unknown> = {};
    for (const [name, a] of Object.entries(d.attributes ?? {})) {
      properties[name] = { type: a.nullable ? [a.type, "null"] : a.type, ...(a.enum ? { enum: a.enum } : {}), description: a.description };
    }
    if (d.children !== undefined) {
      const refs = d.children.tags.map((t) => ({ $ref: `${REF_PREFIX}${t}` }));
      properties[d.children.name] = d.children.ordered
        ? { description: d.children.description, type: "array", prefixItems: refs, items: false }
        : { description: d.children.description, type: "array", items: { anyOf: refs } };
    }
    return {
      type: "object", additionalProperties: false, description: d.description, required: [tag],
      properties: { [tag]: { type: "object", additionalProperties: false, required: Object.keys(properties), properties } },
    };
  };
  const $defs = Object.fromEntries(Object.entries(defs).map(([tag, d]) => [tag, element(tag, d)]));
  return { $root_tag_ref: `${REF_PREFIX}${rootTag}`, $defs, ...($defs[rootTag] as Record<string, unknown>) };
}

/**
 * The thread schema MeshAgent's chat clients expect at `.schemas/thread.json` (elements and
 * attributes as the React `useChat` hook and the ChatBot agent use them; docs/chat.md).
 * `author_ref` is nullable because `useChat` writes null there. `messages` also holds `exec
 * {command, result, pwd}` — what a MeshAgent ChatBot with shell tools appends (MeshAgent's own
 * thread.json, e.g. meshagent-tailwind's example/data/room-1/.schemas/thread.json).
 * `o.exec: false` gives the schema seeded before `exec` was added (to recognise and upgrade it).
 */
export function threadSchemaJson(o: { exec?: boolean } = {}): Record<string, unknown> {
  const exec = o.exec ?? true;
  const str = (description: string, nullable = false) => ({ type: "string", description, nullable });
  return buildSchemaJson("thread", {
    thread: {
      description: "a thread of messages",
      attributes: { name: str("name of the thread", true) },
      children: { name: "properties", tags: ["members", "messages"], ordered: true, description: "the members and messages of the thread" },
    },
    members: { description: "the members of this thread", children: { name: "items", tags: ["member"], description: "the members" } },
    member: {
      description: "a member of this thread",
      attributes: { name: str("the participant name of the member"), type: { type: "string", enum: ["user", "agent"], nullable: true, description: "the type of member" } },
    },
    messages: { description: "the messages of this thread", children: { name: "items", tags: exec ? ["message", "exec"] : ["message"], description: "the messages, oldest first" } },
    message: {
      description: "a message sent in the conversation",
      attributes: {
        id: str("the id of the message"),
        text: str("the text of the message"),
        created_at: str("when the message was sent, ISO 8601"),
        author_name: str("the participant name of the author"),
        author_ref: str("a reference to the author in another system", true),
      },
      children: { name: "attachments", tags: ["file"], description: "files attached to the message" },
    },
    file: { description: "a file attachment", attributes: { path: str("the path of the file in room storage") } },
    ...(exec
      ? {
          exec: {
            description: "a command execution",
            attributes: {
              command: str("a command that was executed"),
              result: str("the result of the command"),
              pwd: str("the working directory the command was executed in"),
            },
          },
        }
      : {}),
  });
}
