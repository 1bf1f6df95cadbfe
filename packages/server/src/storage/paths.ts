import { ToolError } from "../toolkits/types.ts";

/** Longest name of one path segment, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_NAME_BYTES = 255;

/**
 * Storage paths are room-relative POSIX paths ("docs/a.txt"). Absolute paths and `..`
 * segments are refused outright rather than normalized away, so a caller never writes
 * somewhere other than where it thinks.
 *
 * Names are byte-exact UTF-8: no Unicode normalization is applied (NFC "café" and NFD
 * "café" are two different names), the same rule a service sees on its `/data` mount, where
 * Linux stores whatever bytes a program passes. Ill-formed UTF-16 (lone surrogates, which
 * have no UTF-8 form) is refused rather than silently replaced.
 */
export function normalizeStoragePath(input: unknown, opts: { allowRoot: boolean; field?: string }): string {
  const field = opts.field ?? "path";
  if (typeof input !== "string") throw new ToolError(`storage: "${field}" must be a string`, 400);
  if (opts.allowRoot && (input === "" || input === "/" || input === ".")) return "";
  if (input.includes("\0")) throw new ToolError(`storage: "${field}" contains a NUL byte`, 400);
  if (input.startsWith("/") || /^[A-Za-z]:[\\/]/.test(input)) {
    throw new ToolError(`storage: absolute path ${JSON.stringify(input)} is not allowed; use a path relative to the room's storage root, e.g. "docs/a.txt"`, 400);
  }
  if (!input.isWellFormed()) throw new ToolError(`storage: "${field}" contains a lone UTF-16 surrogate, which has no UTF-8 form; got ${JSON.stringify(input)}`, 400);
  if (input.includes("\\")) throw new ToolError(`storage: "${field}" must use "/" as separator, got ${JSON.stringify(input)}`, 400);
  const segments = input.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.some((s) => s === "..")) {
    throw new ToolError(`storage: ".." is not allowed in storage paths (got ${JSON.stringify(input)})`, 400);
  }
  const long = segments.find((s) => Buffer.byteLength(s, "utf8") > MAX_NAME_BYTES);
  if (long !== undefined) throw new ToolError(`storage: name ${JSON.stringify(long.slice(0, 40) + "…")} in "${field}" is ${Buffer.byteLength(long, "utf8")} bytes; at most ${MAX_NAME_BYTES} UTF-8 bytes per name`, 400);
  if (segments.length === 0) {
    if (opts.allowRoot) return "";
    throw new ToolError(`storage: "${field}" must name a file, got ${JSON.stringify(input)}`, 400);
  }
  return segments.join("/");
}

const MIME: Record<string, string> = {
  ".bin": "application/octet-stream", ".css": "text/css", ".csv": "text/csv", ".gif": "image/gif",
  ".gz": "application/gzip", ".htm": "text/html", ".html": "text/html", ".jpeg": "image/jpeg",
  ".jpg": "image/jpeg", ".js": "text/javascript", ".json": "application/json", ".md": "text/markdown",
  ".mp3": "audio/mpeg", ".mp4": "video/mp4", ".pdf": "application/pdf", ".png": "image/png",
  ".svg": "image/svg+xml", ".tar": "application/x-tar", ".txt": "text/plain", ".ts": "text/typescript",
  ".wasm": "application/wasm", ".webp": "image/webp", ".xml": "application/xml", ".yaml": "application/yaml",
  ".yml": "application/yaml", ".zip": "application/zip",
};

export function mimeTypeFor(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "application/octet-stream" : (MIME[name.slice(dot).toLowerCase()] ?? "application/octet-stream");
}

/**
 * `Content-Disposition: attachment` for a file name, per RFC 6266 §4.3: an ASCII `filename=`
 * fallback (non-ASCII, quotes, backslashes and controls replaced by "_") and the exact name in
 * `filename*=UTF-8''…` with RFC 5987 percent-encoding (only attr-chars left as they are).
 */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/gu, "_");
  const encoded = Array.from(Buffer.from(name, "utf8"))
    .map((b) => (/[A-Za-z0-9!#$&+\-.^_`|~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`))
    .join("");
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
