/**
 * MeshAgent's WebSocket framing. A message with id N, a `type` string and a data buffer
 * goes out as one header frame followed by `count` data frames:
 *
 *   header frame: u32 id_hi | u32 id_lo | u32 0 | u32 count | utf-8 type
 *   data frame i: u32 id_hi | u32 id_lo | u32 i (1..count) | up to chunk bytes of data
 *
 * Frames of one message are never interleaved with another's on the same socket.
 */

export interface FrameLimits {
  /** Largest reassembled message (sum of data frames) accepted from a peer. */
  maxMessageBytes: number;
  /** Longest message type string accepted. */
  maxTypeLength: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = {
  maxMessageBytes: 32 * 1024 * 1024,
  maxTypeLength: 256,
};

/** WebSocket close codes used when a peer breaks the framing rules. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

export class FrameError extends Error {
  override name = "FrameError";
  readonly closeCode: number;
  constructor(message: string, closeCode: number = CloseCode.protocolError) {
    super(message);
    this.closeCode = closeCode;
  }
}

export interface DecodedMessage {
  id: number;
  type: string;
  data: Buffer;
}

const typeDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Reassembles messages from frames. Unlike the SDK's lenient decoder it rejects anything
 * out of order, since a server must not guess: the caller closes the socket on FrameError.
 */
export class FrameDecoder {
  private readonly limits: FrameLimits;
  private current: { id: number; type: string; count: number; next: number; parts: Buffer[]; bytes: number } | null = null;

  constructor(limits: Partial<FrameLimits> = {}) {
    this.limits = { ...DEFAULT_FRAME_LIMITS, ...limits };
  }

  /** Feeds one frame; returns a message when it is complete, otherwise null. */
  push(frame: Buffer): DecodedMessage | null {
    if (frame.length < 12) throw new FrameError(`frame too short: ${frame.length} bytes, need at least 12`);
    const id = frame.readUInt32BE(0) * 2 ** 32 + frame.readUInt32BE(4);
    const index = frame.readUInt32BE(8);
    if (index === 0) {
      if (this.current !== null) {
        throw new FrameError(`new message ${id} started before message ${this.current.id} was complete`);
      }
      if (frame.length < 16) throw new FrameError(`header frame too short: ${frame.length} bytes, need at least 16`);
      const count = frame.readUInt32BE(12);
      const typeBytes = frame.subarray(16);
      if (typeBytes.length === 0) throw new FrameError("message type is empty");
      if (typeBytes.length > this.limits.maxTypeLength) {
        throw new FrameError(`message type is ${typeBytes.length} bytes, limit is ${this.limits.maxTypeLength}`);
      }
      let type: string;
      try {
        type = typeDecoder.decode(typeBytes);
      } catch {
        throw new FrameError("message type is not valid UTF-8");
      }
      // A data frame carries at least one byte, so count bounds the size from below.
      if (count > this.limits.maxMessageBytes) {
        throw new FrameError(`message announces ${count} frames, more than the ${this.limits.maxMessageBytes}-byte limit allows`, CloseCode.messageTooBig);
      }
      if (count === 0) return { id, type, data: Buffer.alloc(0) };
      this.current = { id, type, count, next: 1, parts: [], bytes: 0 };
      return null;
    }
    const cur = this.current;
    if (cur === null) throw new FrameError(`data frame ${index} of message ${id} arrived without a header frame`);
    if (id !== cur.id) throw new FrameError(`data frame for message ${id} arrived while message ${cur.id} was incomplete`);
    if (index !== cur.next) throw new FrameError(`data frame ${index} of message ${id} arrived out of order, expected ${cur.next}`);
    const chunk = frame.subarray(12);
    cur.bytes += chunk.length;
    if (cur.bytes > this.limits.maxMessageBytes) {
      throw new FrameError(`message ${id} exceeds the ${this.limits.maxMessageBytes}-byte limit`, CloseCode.messageTooBig);
    }
    cur.parts.push(chunk);
    if (index === cur.count) {
      this.current = null;
      return { id, type: cur.type, data: cur.parts.length === 1 ? cur.parts[0]! : Buffer.concat(cur.parts, cur.bytes) };
    }
    cur.next += 1;
    return null;
  }
}

/**
 * Encodes a message into frames. The SDK reads frames of any size, so the server uses large
 * chunks to keep the frame count (and syscalls) low; clients use 1024-byte chunks.
 */
export function encodeFrames(id: number, type: string, data: Uint8Array, chunkSize = 1024 * 1024): Buffer[] {
  const count = data.length === 0 ? 0 : Math.ceil(data.length / chunkSize);
  const typeBuf = Buffer.from(type, "utf8");
  const header = Buffer.allocUnsafe(16 + typeBuf.length);
  header.writeUInt32BE(Math.floor(id / 2 ** 32), 0);
  header.writeUInt32BE(id >>> 0, 4);
  header.writeUInt32BE(0, 8);
  header.writeUInt32BE(count, 12);
  typeBuf.copy(header, 16);
  const frames = [header];
  for (let i = 0; i < count; i++) {
    const part = data.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, data.length));
    const frame = Buffer.allocUnsafe(12 + part.length);
    frame.writeUInt32BE(Math.floor(id / 2 ** 32), 0);
    frame.writeUInt32BE(id >>> 0, 4);
    frame.writeUInt32BE(i + 1, 8);
    frame.set(part, 12);
    frames.push(frame);
  }
  return frames;
}
