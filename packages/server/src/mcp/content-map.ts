/**
 * MCP tool results → room content, and the `allowed_tools` filter. Pure functions.
 */
import { binary, empty, errorContent, json, type Content } from "@roomservice/protocol";
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import type { NormalizedMcpEndpoint } from "@roomservice/manifest";

/**
 * Whether a tool passes the endpoint's `allowed_tools`. Same meaning as OpenAI's MCP tool
 * filter, which MeshAgent's field mirrors: no filter exposes every tool; otherwise a tool is
 * exposed when some entry matches it, an entry matching when its `tool_names` (if given)
 * include the tool's name and its `read_only` (if given) equals the tool's `readOnlyHint`
 * annotation (absent counts as false: the MCP spec's default).
 */
export function toolAllowed(tool: Pick<Tool, "name" | "annotations">, allowed: NormalizedMcpEndpoint["allowedTools"]): boolean {
  if (allowed === undefined) return true;
  const readOnly = tool.annotations?.readOnlyHint === true;
  return allowed.some((f) => (f.toolNames === undefined || f.toolNames.includes(tool.name)) && (f.readOnly === undefined || f.readOnly === readOnly));
}

type Item = CallToolResult["content"][number];

/**
 * A CallToolResult as room content:
 * - `isError` → `error` content with the result's text;
 * - `structuredContent` → `json` (the typed result the tool declared with outputSchema);
 * - one text item → `text`; one image/audio item → `binary` with its bytes decoded and
 *   `mime_type` in the headers; one embedded resource → its text or bytes; a resource link →
 *   `json` describing it; no items → `empty`;
 * - several items → `json {content: [...]}`, MCP's own shape.
 */
export function resultToContent(r: CallToolResult): Content {
  const items = r.content ?? [];
  if (r.isError === true) {
    const text = items.filter((c) => c.type === "text").map((c) => (c as { text: string }).text).join("\n");
    return errorContent(text || "the MCP tool reported an error without a message");
  }
  if (r.structuredContent !== undefined && r.structuredContent !== null) return json(r.structuredContent);
  if (items.length === 0) return empty();
  if (items.length > 1) return json({ content: items });
  return itemToContent(items[0]!);
}

function itemToContent(c: Item): Content {
  switch (c.type) {
    case "text":
      return { type: "text", text: c.text };
    case "image":
    case "audio":
      return binary({ mime_type: c.mimeType, kind: c.type }, Buffer.from(c.data, "base64"));
    case "resource": {
      const res = c.resource as { uri: string; mimeType?: string; text?: string; blob?: string };
      if (typeof res.text === "string") return { type: "text", text: res.text };
      return binary({ mime_type: res.mimeType ?? "application/octet-stream", uri: res.uri }, Buffer.from(res.blob ?? "", "base64"));
    }
    default:
      return json(c);
  }
}
