/**
 * MeshAgent message payloads: an 8-byte big-endian length of a JSON header, the JSON
 * header itself, then an optional binary tail. Used for every request, response, event
 * and content value on the wire.
 */
export class PayloadError extends Error {
  override name = "PayloadError";
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

export function packPayload(header: unknown, tail?: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const out = Buffer.allocUnsafe(8 + json.length + (tail?.length ?? 0));
  out.writeUInt32BE(Math.floor(json.length / 2 ** 32), 0);
  out.writeUInt32BE(json.length >>> 0, 4);
  json.copy(out, 8);
  if (tail && tail.length > 0) out.set(tail, 8 + json.length);
  return out;
}

export interface UnpackedPayload {
  header: Record<string, unknown>;
  tail: Buffer;
}

/** Parses a payload; throws PayloadError with a precise reason on malformed input. */
export function unpackPayload(data: Uint8Array): UnpackedPayload {
  if (data.length < 8) throw new PayloadError(`payload too short: ${data.length} bytes, need at least 8`);
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const hi = buf.readUInt32BE(0);
  const lo = buf.readUInt32BE(4);
  const size = hi * 2 ** 32 + lo;
  if (size > buf.length - 8) {
    throw new PayloadError(`payload header length ${size} exceeds the ${buf.length - 8} bytes available`);
  }
  let text: string;
  try {
    text = textDecoder.decode(buf.subarray(8, 8 + size));
  } catch {
    throw new PayloadError("payload header is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new PayloadError(`payload header is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PayloadError("payload header must be a JSON object");
  }
  return { header: parsed as Record<string, unknown>, tail: buf.subarray(8 + size) };
}

export { textEncoder };
