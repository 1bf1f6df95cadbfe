/**
 * Typed content values carried by tool calls and responses (MeshAgent's `response.js`):
 * json, text, binary, file, link, error, empty and control. On the wire each is a payload
 * whose header has `type` plus type-specific fields and whose tail carries bytes.
 */
import { packPayload, unpackPayload, PayloadError } from "./payload.ts";

export type Content =
  | { type: "json"; json: unknown }
  | { type: "text"; text: string }
  | { type: "binary"; headers: Record<string, unknown>; data: Buffer }
  | { type: "file"; name: string; mimeType: string; data: Buffer }
  | { type: "link"; name: string; url: string }
  | { type: "error"; text: string; code?: number }
  | { type: "empty" }
  | { type: "control"; method: "open" | "close"; statusCode?: number; message?: string };

export const json = (value: unknown): Content => ({ type: "json", json: value });
export const empty = (): Content => ({ type: "empty" });
export const errorContent = (text: string, code?: number): Content =>
  code === undefined ? { type: "error", text } : { type: "error", text, code };
export const controlOpen = (): Content => ({ type: "control", method: "open" });
export const controlClose = (statusCode = 1000, message?: string): Content =>
  message === undefined
    ? { type: "control", method: "close", statusCode }
    : { type: "control", method: "close", statusCode, message };
export const binary = (headers: Record<string, unknown>, data: Buffer = Buffer.alloc(0)): Content => ({
  type: "binary",
  headers,
  data,
});

/** Splits content into the JSON header and binary tail used on the wire. */
export function contentToWire(c: Content): { header: Record<string, unknown>; tail?: Buffer } {
  switch (c.type) {
    case "json":
      return { header: { type: "json", json: c.json } };
    case "text":
      return { header: { type: "text", text: c.text } };
    case "binary":
      return { header: { type: "binary", headers: c.headers }, tail: c.data };
    case "file":
      return { header: { type: "file", name: c.name, mime_type: c.mimeType }, tail: c.data };
    case "link":
      return { header: { type: "link", name: c.name, url: c.url } };
    case "error":
      return { header: c.code === undefined ? { type: "error", text: c.text } : { type: "error", text: c.text, code: c.code } };
    case "empty":
      return { header: { type: "empty" } };
    case "control": {
      const header: Record<string, unknown> = { type: "control", method: c.method };
      if (c.method === "close") {
        header.status_code = c.statusCode ?? 1000;
        if (c.message !== undefined) header.message = c.message;
      }
      return { header };
    }
  }
}

export function packContent(c: Content): Buffer {
  const { header, tail } = contentToWire(c);
  return packPayload(header, tail);
}

/** Builds content from a wire header (already parsed) and its tail. Throws PayloadError. */
export function contentFromWire(header: Record<string, unknown>, tail: Buffer): Content {
  const type = header.type;
  switch (type) {
    case "json":
      return { type: "json", json: header.json ?? null };
    case "text":
      if (typeof header.text !== "string") throw new PayloadError("text content needs a string `text`");
      return { type: "text", text: header.text };
    case "binary": {
      const h = header.headers;
      return {
        type: "binary",
        headers: typeof h === "object" && h !== null && !Array.isArray(h) ? (h as Record<string, unknown>) : {},
        data: tail,
      };
    }
    case "file":
      return {
        type: "file",
        name: typeof header.name === "string" ? header.name : "file",
        mimeType: typeof header.mime_type === "string" ? header.mime_type : "application/octet-stream",
        data: tail,
      };
    case "link":
      if (typeof header.url !== "string") throw new PayloadError("link content needs a string `url`");
      return { type: "link", url: header.url, name: typeof header.name === "string" ? header.name : "" };
    case "error": {
      const code = typeof header.code === "number" && Number.isInteger(header.code) ? header.code : undefined;
      const text = typeof header.text === "string" ? header.text : "error";
      return code === undefined ? { type: "error", text } : { type: "error", text, code };
    }
    case "empty":
      return { type: "empty" };
    case "control": {
      if (header.method !== "open" && header.method !== "close") {
        throw new PayloadError(`control content needs method "open" or "close", got ${JSON.stringify(header.method)}`);
      }
      const statusCode = typeof header.status_code === "number" ? header.status_code : undefined;
      const message = typeof header.message === "string" ? header.message : undefined;
      const c: Content = { type: "control", method: header.method };
      if (statusCode !== undefined) c.statusCode = statusCode;
      if (message !== undefined) c.message = message;
      return c;
    }
    default:
      throw new PayloadError(`unknown content type ${JSON.stringify(type)}`);
  }
}

export function unpackContent(data: Uint8Array): Content {
  const { header, tail } = unpackPayload(data);
  return contentFromWire(header, tail);
}
