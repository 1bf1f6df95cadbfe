import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { packPayload, type Content } from "@roomservice/protocol";
import { startTestServer, collectMessages, eventually, type TestServer } from "./helpers.ts";
import { connectRaw, type RawClient, type RawClose } from "./raw-client.ts";

// ---------------------------------------------------------------------------------------
// Frame builders (see packages/protocol/src/frames.ts for the layout).

function headerFrame(id: number, count: number, type: Uint8Array | string): Buffer {
  const t = typeof type === "string" ? Buffer.from(type, "utf8") : Buffer.from(type);
  const b = Buffer.alloc(16 + t.length);
  b.writeUInt32BE(Math.floor(id / 2 ** 32), 0);
  b.writeUInt32BE(id >>> 0, 4);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(count >>> 0, 12);
  t.copy(b, 16);
  return b;
}

function dataFrame(id: number, index: number, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(Math.floor(id / 2 ** 32), 0);
  b.writeUInt32BE(id >>> 0, 4);
  b.writeUInt32BE(index >>> 0, 8);
  b.set(data, 12);
  return b;
}

/** A payload whose u64 JSON length is whatever we say, followed by `json` bytes. */
function rawPayload(declaredLength: number, json: Uint8Array | string): Buffer {
  const j = typeof json === "string" ? Buffer.from(json, "utf8") : Buffer.from(json);
  const b = Buffer.alloc(8 + j.length);
  b.writeUInt32BE(Math.floor(declaredLength / 2 ** 32), 0);
  b.writeUInt32BE(declaredLength >>> 0, 4);
  j.copy(b, 8);
  return b;
}

function textOf(c: Content): string {
  return c.type === "error" ? c.text : "";
}

async function closedWithin(raw: RawClient, ms = 10_000): Promise<RawClose> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      raw.closed,
      new Promise<RawClose>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`socket was not closed by the server within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects process-level failures; asserts none happened. */
function watchProcess(t: { after(fn: () => void): void }): { failures: unknown[] } {
  const box = { failures: [] as unknown[] };
  const onErr = (err: unknown) => box.failures.push(err);
  process.on("uncaughtException", onErr);
  process.on("unhandledRejection", onErr);
  t.after(() => {
    process.off("uncaughtException", onErr);
    process.off("unhandledRejection", onErr);
  });
  return box;
}

// ---------------------------------------------------------------------------------------
// Specific behaviours.

test("unknown message types and malformed payloads get a 400 error response; the connection stays open", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const raw = await connectRaw(ts.wsUrl, "frames-ok", await ts.token("frames-ok", "raw"));
  t.after(() => raw.close());
  await raw.waitType("room_ready");

  raw.request(1, "no.such.type", { hello: "world" });
  const unknown = await raw.response(1);
  assert.equal(unknown.type, "error");
  assert.equal((unknown as { code?: number }).code, 400);
  assert.match(textOf(unknown), /unknown message type "no\.such\.type"/);

  // A declared JSON length beyond the data.
  raw.message(2, "room.invoke_tool", rawPayload(99, "{}"));
  // JSON that is not an object.
  raw.message(3, "room.invoke_tool", packPayload([1, 2, 3]));
  raw.message(4, "set_attributes", packPayload("just a string"));
  // Not JSON at all.
  raw.message(5, "room.invoke_tool", rawPayload(5, "{nope"));
  // Not UTF-8.
  raw.message(6, "room.invoke_tool", rawPayload(2, Buffer.from([0xc3, 0x28])));
  // Shorter than the 8-byte length prefix, and no data at all (count 0).
  raw.message(7, "room.invoke_tool", Buffer.from([0, 0, 1]));
  raw.frame(headerFrame(8, 0, "room.invoke_tool"));
  // Well-formed payload, wrong fields.
  raw.request(9, "room.invoke_tool", { toolkit: 42 });
  raw.request(10, "room.invoke_tool", { toolkit: "messaging", tool: "list", arguments: { type: "no-such-content" } });

  const expect: Array<[number, RegExp]> = [
    [2, /malformed room\.invoke_tool payload: payload header length 99 exceeds the 2 bytes available/],
    [3, /malformed room\.invoke_tool payload: payload header must be a JSON object/],
    [4, /malformed set_attributes payload: payload header must be a JSON object/],
    [5, /malformed room\.invoke_tool payload: payload header is not valid JSON/],
    [6, /malformed room\.invoke_tool payload: payload header is not valid UTF-8/],
    [7, /malformed room\.invoke_tool payload: payload too short: 3 bytes/],
    [8, /malformed room\.invoke_tool payload: payload too short: 0 bytes/],
    [9, /needs string fields "toolkit" and "tool"/],
    [10, /malformed arguments: unknown content type "no-such-content"/],
  ];
  for (const [id, re] of expect) {
    const r = await raw.response(id);
    assert.equal(r.type, "error", `request ${id}`);
    assert.equal((r as { code?: number }).code, 400, `request ${id}: ${textOf(r)}`);
    assert.match(textOf(r), re);
  }

  // Still open and still serving: a real call succeeds.
  raw.request(11, "room.invoke_tool", { toolkit: "messaging", tool: "list", arguments: { type: "json", json: {} } });
  const ok = await raw.response(11);
  assert.equal(ok.type, "json");
  assert.deepEqual((ok as { json: unknown }).json, { participants: [] });
  assert.equal(raw.closeInfo, null, "the server did not close the socket");
  assert.equal(raw.decodeError, null);
});

test("framing violations close the socket with 1002 and a reason", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const jwt = await ts.token("frames-bad", "raw");

  const typeTooLong = "x".repeat(257);
  const cases: Array<{ name: string; frames: Array<Uint8Array | string>; reason: RegExp }> = [
    { name: "empty frame", frames: [Buffer.alloc(0)], reason: /frame too short: 0 bytes/ },
    { name: "11-byte frame", frames: [Buffer.alloc(11, 0xff)], reason: /frame too short: 11 bytes, need at least 12/ },
    { name: "header frame without count", frames: [Buffer.alloc(14)], reason: /header frame too short: 14 bytes/ },
    { name: "data frame without header", frames: [dataFrame(1, 1, Buffer.from("hi"))], reason: /data frame 1 of message 1 arrived without a header frame/ },
    {
      name: "out-of-order index",
      frames: [headerFrame(1, 3, "room.invoke_tool"), dataFrame(1, 1, Buffer.from("a")), dataFrame(1, 3, Buffer.from("c"))],
      reason: /data frame 3 of message 1 arrived out of order, expected 2/,
    },
    {
      name: "data frame of another message",
      frames: [headerFrame(1, 2, "room.invoke_tool"), dataFrame(2, 1, Buffer.from("a"))],
      reason: /data frame for message 2 arrived while message 1 was incomplete/,
    },
    {
      name: "new header before the message completed",
      frames: [headerFrame(1, 2, "room.invoke_tool"), dataFrame(1, 1, Buffer.from("a")), headerFrame(2, 0, "x")],
      reason: /new message 2 started before message 1 was complete/,
    },
    { name: "type longer than 256 bytes", frames: [headerFrame(1, 0, typeTooLong)], reason: /message type is 257 bytes, limit is 256/ },
    { name: "invalid UTF-8 type", frames: [headerFrame(1, 0, Buffer.from([0x72, 0xff, 0xfe, 0x6d]))], reason: /message type is not valid UTF-8/ },
    { name: "empty type", frames: [headerFrame(1, 0, "")], reason: /message type is empty/ },
    { name: "text frame", frames: ["hello"], reason: /text frames are not part of the protocol/ },
  ];
  for (const c of cases) {
    const raw = await connectRaw(ts.wsUrl, "frames-bad", jwt);
    for (const f of c.frames) raw.frame(f);
    const closed = await closedWithin(raw);
    assert.equal(closed.code, 1002, `${c.name}: close code (reason ${closed.reason})`);
    assert.match(closed.reason, c.reason, c.name);
    assert.ok(Buffer.byteLength(closed.reason) <= 123, `${c.name}: reason fits a close frame`);
  }
  // The room is empty again: every closed connection was released.
  await eventually(() => (ts.server.rooms.get("frames-bad")?.connections.size ?? 0) === 0, 5000, "connections released");
});

test("oversized frames and messages close the socket with 1009", async (t) => {
  const ts = await startTestServer({ limits: { maxFrameBytes: 4096, maxMessageBytes: 8192 } });
  t.after(() => ts.close());
  const jwt = await ts.token("frames-big", "raw");

  // One frame over maxFrameBytes: refused by the WebSocket layer (ws maxPayload).
  let raw = await connectRaw(ts.wsUrl, "frames-big", jwt);
  raw.frame(dataFrame(1, 1, randomBytes(5000)));
  assert.equal((await closedWithin(raw)).code, 1009, "frame above maxFrameBytes");

  // A header announcing more frames than maxMessageBytes could hold.
  raw = await connectRaw(ts.wsUrl, "frames-big", jwt);
  raw.frame(headerFrame(1, 0xffffffff, "room.invoke_tool"));
  let closed = await closedWithin(raw);
  assert.equal(closed.code, 1009);
  assert.match(closed.reason, /message announces 4294967295 frames, more than the 8192-byte limit allows/);

  // Frames that are each fine but reassemble to more than maxMessageBytes.
  raw = await connectRaw(ts.wsUrl, "frames-big", jwt);
  raw.frame(headerFrame(1, 3, "room.invoke_tool"));
  for (let i = 1; i <= 3; i++) raw.frame(dataFrame(1, i, randomBytes(4000)));
  closed = await closedWithin(raw);
  assert.equal(closed.code, 1009);
  assert.match(closed.reason, /message 1 exceeds the 8192-byte limit/);

  // Exactly at the limit is fine.
  raw = await connectRaw(ts.wsUrl, "frames-big", jwt);
  t.after(() => raw.close());
  const data = Buffer.concat([packPayload({ hello: 1 }), Buffer.alloc(8192 - packPayload({ hello: 1 }).length)]);
  raw.message(1, "no.such.type", data, 4000);
  const r = await raw.response(1);
  assert.equal((r as { code?: number }).code, 400);
  assert.equal(raw.closeInfo, null);
});

test("a burst above the rate limit closes the socket with 1008", async (t) => {
  const ts = await startTestServer({ limits: { maxMessagesPerSecond: 10, messageBurst: 20 } });
  t.after(() => ts.close());
  const raw = await connectRaw(ts.wsUrl, "frames-rate", await ts.token("frames-rate", "raw"));
  for (let i = 1; i <= 500; i++) raw.frame(headerFrame(i, 0, "no.such.type"));
  const closed = await closedWithin(raw);
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /rate limit exceeded: more than 10 messages per second/);
  const answered = raw.received.filter((m) => m.type === "__response__").length;
  assert.ok(answered >= 20, `the full burst of 20 was served before the close (got ${answered})`);
  assert.ok(answered < 500, `the server stopped answering once the bucket was empty (got ${answered})`);
});

// ---------------------------------------------------------------------------------------
// The acceptance run: 10,000 frames from raw clients while two SDK clients keep working.

/** mulberry32: a small seeded PRNG so a failing run can be replayed with FUZZ_SEED. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    bytes: (n: number) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof rng>;

const FUZZ_LIMITS = { maxFrameBytes: 4096, maxMessageBytes: 16384, maxMessagesPerSecond: 100, messageBurst: 200 };

/** What a well-framed request should get back. */
type Expect = { id: number; what: string; code?: number[]; text?: RegExp } | { id: number; what: string; any: true };

function junkJson(r: Rng, depth = 0): unknown {
  switch (r.int(0, depth > 2 ? 4 : 7)) {
    case 0: return null;
    case 1: return r.int(-1e6, 1e6);
    case 2: return r.chance(0.5);
    case 3: return r.bytes(r.int(0, 12)).toString("latin1");
    case 4: return r.next() * 1e300;
    case 5: return Array.from({ length: r.int(0, 4) }, () => junkJson(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(0, 4); i > 0; i--) o[r.pick(["type", "json", "text", "path", "id", "name", "tools", "chunk", "x", "__proto__", "constructor"])] = junkJson(r, depth + 1);
      return o;
    }
  }
}

/** One well-framed message with a bad or odd payload, and what the server must answer. */
function wellFramedJunk(r: Rng, id: number): { data: Buffer; type: string; expect: Expect | null } {
  const unknownType = () => r.pick(["no.such.type", "__response__", "room.status", "x", "room.tool_call.foo", "connected", "a".repeat(256), "ü✓"]);
  switch (r.int(0, 11)) {
    case 0: // unknown type, valid payload
      return { type: unknownType(), data: packPayload({ n: id, junk: junkJson(r) }, r.chance(0.3) ? r.bytes(r.int(1, 200)) : undefined), expect: { id, what: "unknown type", code: [400], text: /unknown message type/ } };
    case 1: // JSON length beyond the data
      return { type: r.pick(["room.invoke_tool", "set_attributes", "no.such.type"]), data: rawPayload(r.int(3, 2 ** 40), "{}"), expect: { id, what: "bad JSON length", code: [400], text: /malformed .* payload: payload header length/ } };
    case 2: // non-object JSON
      return { type: r.pick(["room.invoke_tool", "room.register_toolkit", "room.list_toolkits"]), data: packPayload(r.pick([[1], "s", 5, null, true, []])), expect: { id, what: "non-object JSON", code: [400], text: /must be a JSON object/ } };
    case 3: { // not JSON
      const s = r.pick(["{", "}{", "{\"a\":}", "nul", "[1,", "\u0000"]);
      return { type: "room.invoke_tool", data: rawPayload(Buffer.byteLength(s), s), expect: { id, what: "invalid JSON", code: [400], text: /not valid JSON/ } };
    }
    case 4: // invalid UTF-8 in the JSON header
      return { type: "set_attributes", data: rawPayload(3, Buffer.from([0x7b, 0xff, 0x7d])), expect: { id, what: "invalid UTF-8 JSON", code: [400], text: /not valid UTF-8/ } };
    case 5: // payload shorter than its length prefix
      return { type: r.pick(["room.invoke_tool", "no.such.type"]), data: r.bytes(r.int(0, 7)), expect: { id, what: "short payload", code: [400], text: /payload too short/ } };
    case 6: // invoke_tool with junk fields
      return {
        type: "room.invoke_tool",
        data: packPayload({ toolkit: r.pick([42, null, "nope", "messaging", "storage", "developer"]), tool: r.pick([undefined, 7, "nope", "list", "exists", "stat"]), arguments: junkJson(r) }),
        expect: { id, what: "invoke junk", any: true },
      };
    case 7: // invoke_tool with junk arguments content
      return {
        type: "room.invoke_tool",
        data: packPayload({ toolkit: "messaging", tool: "list", arguments: { type: r.pick(["control", "text", "link", "bogus", 5]), method: r.pick(["x", undefined]) } }),
        expect: { id, what: "invoke junk arguments", code: [400] },
      };
    case 8: // set_attributes with junk values (including __proto__ keys from JSON.parse)
      return {
        type: "set_attributes",
        data: packJsonText(`{"__proto__": {"polluted": true}, "k${id}": ${JSON.stringify(junkJson(r))}, "name": "spoofed"}`),
        expect: { id, what: "set_attributes", any: true },
      };
    case 9: // register_toolkit with junk
      return {
        type: "room.register_toolkit",
        data: packPayload({ name: r.pick(["", "ok-name", "bad name!", 5, "messaging", "x".repeat(200)]), tools: junkJson(r), public: junkJson(r) }),
        expect: { id, what: "register junk", any: true },
      };
    case 10: // unregister / list / request chunk with junk
      return {
        type: r.pick(["room.unregister_toolkit", "room.list_toolkits", "room.tool_call_request_chunk"]),
        data: packPayload({ id: junkJson(r), tool_call_id: r.pick([undefined, 5, "nope"]), chunk: junkJson(r) }),
        expect: { id, what: "toolkit junk", any: true },
      };
    default: // valid call in the middle of the junk
      return { type: "room.invoke_tool", data: packPayload({ toolkit: "storage", tool: "exists", arguments: { type: "json", json: { path: "seed.txt" } } }), expect: { id, what: "exists", any: true } };
  }
}

function packJsonText(json: string): Buffer {
  return rawPayload(Buffer.byteLength(json), json);
}

/** Splits a message into frames with a random chunk size (at most ~20 data frames). */
function framesOf(r: Rng, id: number, type: string, data: Buffer): Buffer[] {
  const minChunk = Math.max(1, Math.ceil(data.length / 20));
  const chunk = r.int(minChunk, Math.max(minChunk, 1024));
  const n = data.length === 0 ? 0 : Math.ceil(data.length / chunk);
  const out = [headerFrame(id, n, type)];
  for (let i = 0; i < n; i++) out.push(dataFrame(id, i + 1, data.subarray(i * chunk, Math.min((i + 1) * chunk, data.length))));
  return out;
}

/** The frame(s) that end a connection, and the close the server must answer with. */
function fatal(r: Rng, nextId: number): { name: string; frames: Array<Uint8Array | string>; codes: number[]; reason: RegExp | null } {
  const id = nextId;
  // A burst costs 600 frames; keep it rare so the 10,000 frames spread over many connections.
  switch (r.chance(0.03) ? 11 : r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13])) {
    case 0: {
      // Random bytes, then a short frame so the socket certainly breaks even if the random
      // bytes happened to form a valid header.
      const frames: Buffer[] = [];
      for (let i = r.int(1, 5); i > 0; i--) frames.push(r.bytes(r.int(0, 300)));
      frames.push(r.bytes(3));
      return { name: "random bytes", frames, codes: [1002, 1009], reason: /./ };
    }
    case 1:
      return { name: "short frame", frames: [r.bytes(r.int(0, 11))], codes: [1002], reason: /frame too short/ };
    case 2:
      return { name: "short header frame", frames: [Buffer.concat([Buffer.alloc(8), Buffer.alloc(4), r.bytes(r.int(0, 3))])], codes: [1002], reason: /header frame too short/ };
    case 3:
      return { name: "data without header", frames: [dataFrame(id, r.int(1, 2 ** 32 - 1), r.bytes(r.int(0, 100)))], codes: [1002], reason: /without a header frame/ };
    case 4: {
      const count = r.int(3, 10);
      const frames = [headerFrame(id, count, "room.invoke_tool"), dataFrame(id, 1, r.bytes(10))];
      const bad = r.pick([1, r.int(3, count + 5)]);
      frames.push(dataFrame(id, bad, r.bytes(10)));
      return { name: "out-of-order index", frames, codes: [1002], reason: /out of order/ };
    }
    case 5:
      return { name: "huge count", frames: [headerFrame(id, r.int(16385, 2 ** 32 - 1), "room.invoke_tool")], codes: [1009], reason: /announces \d+ frames/ };
    case 6:
      return { name: "long type", frames: [headerFrame(id, 0, "t".repeat(r.int(257, 3000)))], codes: [1002], reason: /message type is \d+ bytes, limit is 256/ };
    case 7: {
      const t = Buffer.concat([Buffer.from("room."), r.pick([Buffer.from([0xff]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xe2, 0x82])])]);
      return { name: "invalid UTF-8 type", frames: [headerFrame(id, 0, t)], codes: [1002], reason: /not valid UTF-8/ };
    }
    case 8:
      return { name: "text frame", frames: [r.pick(["hello", "{\"type\":\"room.invoke_tool\"}", "", "✓".repeat(100)])], codes: [1002], reason: /text frames/ };
    case 9:
      return { name: "frame above maxFrameBytes", frames: [r.bytes(r.int(4097, 20_000))], codes: [1009], reason: null };
    case 10: {
      const frames: Buffer[] = [headerFrame(id, 10, "room.invoke_tool")];
      for (let i = 1; i <= 5; i++) frames.push(dataFrame(id, i, r.bytes(4000)));
      return { name: "reassembled message above maxMessageBytes", frames, codes: [1009], reason: /exceeds the 16384-byte limit/ };
    }
    case 11: {
      const frames: Buffer[] = [];
      for (let i = 0; i < 600; i++) frames.push(headerFrame(id + i, 0, "no.such.type"));
      return { name: "rate-limit burst", frames, codes: [1008], reason: /rate limit exceeded/ };
    }
    case 12:
      return { name: "header while incomplete", frames: [headerFrame(id, 2, "a"), dataFrame(id, 1, r.bytes(5)), headerFrame(id + 1, 0, "b")], codes: [1002], reason: /started before message/ };
    default:
      return { name: "other message's data frame", frames: [headerFrame(id, 2, "a"), dataFrame(id + 1, 1, r.bytes(5))], codes: [1002], reason: /while message \d+ was incomplete/ };
  }
}

test("10,000 malformed, oversized and random frames: other clients keep working, no unhandled exception", async (t) => {
  const watch = watchProcess(t);
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const r = rng(seed);
  const ts: TestServer = await startTestServer({ limits: FUZZ_LIMITS });
  t.after(() => ts.close());
  const ROOM = "fuzz";

  const alice = await ts.client(ROOM, "alice");
  const bob = await ts.client(ROOM, "bob");
  const aliceBox = collectMessages(alice);
  const bobBox = collectMessages(bob);
  alice.messaging.enable();
  bob.messaging.enable();
  await eventually(() => alice.messaging.getParticipantByName("bob") !== null && bob.messaging.getParticipantByName("alice") !== null, 5000, "alice and bob see each other");
  await alice.storage.upload("seed.txt", Buffer.from("seed"));

  let checks = 0;
  async function sdkCheck(): Promise<void> {
    const n = checks++;
    const nonce = `${seed}-${n}`;
    switch (n % 3) {
      case 0:
        await alice.messaging.broadcastMessage({ type: "ping", message: { nonce } });
        await eventually(() => bobBox.messages.some((m) => m.type === "ping" && m.message?.nonce === nonce), 5000, `broadcast ${n}`);
        break;
      case 1:
        assert.equal(await bob.storage.exists("seed.txt"), true, `storage.exists ${n}`);
        break;
      default: {
        const to = bob.messaging.getParticipantByName("alice");
        assert.ok(to, `bob still sees alice (check ${n})`);
        await bob.messaging.sendMessage({ to, type: "pong", message: { nonce } });
        await eventually(() => aliceBox.messages.some((m) => m.type === "pong" && m.message?.nonce === nonce), 5000, `direct message ${n}`);
      }
    }
  }

  const TOTAL = 10_000;
  let sent = 0;
  let connections = 0;
  const closes = new Map<string, number>();
  const jwt = await ts.token(ROOM, "fuzzer");

  /** Sends frames one by one; every 50th frame waits for an SDK round trip that overlaps the raw traffic. */
  async function send(raw: RawClient, frames: Array<Uint8Array | string>): Promise<void> {
    for (const f of frames) {
      raw.frame(f);
      sent++;
      if (sent % 50 === 0) await sdkCheck();
    }
  }

  while (sent < TOTAL) {
    const raw = await connectRaw(ts.wsUrl, ROOM, jwt);
    connections++;
    let id = r.int(0, 1000);

    // Well-framed junk first: every one must be answered and none may close the socket.
    const expects: Expect[] = [];
    for (let i = r.int(0, 8); i > 0; i--) {
      const m = wellFramedJunk(r, id);
      await send(raw, framesOf(r, id, m.type, m.data));
      if (m.expect !== null) expects.push(m.expect);
      id++;
    }
    for (const e of expects) {
      const resp = await raw.response(e.id, 10_000).catch((err: Error) => {
        throw new Error(`seed ${seed}, connection ${connections}, request ${e.id} (${e.what}): ${err.message}`);
      });
      assert.ok(!(resp.type === "error" && (resp.code === 500 || /internal error/.test(resp.text))), `${e.what}: internal error ${JSON.stringify(resp)} (seed ${seed})`);
      if ("any" in e) continue;
      assert.equal(resp.type, "error", `${e.what}: expected an error, got ${JSON.stringify(resp)}`);
      const code = (resp as { code?: number }).code;
      assert.ok(e.code!.includes(code ?? -1), `${e.what}: code ${code} (${textOf(resp)})`);
      if (e.text) assert.match(textOf(resp), e.text, e.what);
    }
    assert.equal(raw.closeInfo, null, `well-framed junk must not close the socket (seed ${seed}, connection ${connections}): ${JSON.stringify(raw.closeInfo)}`);

    if (r.chance(0.1)) {
      // Some connections simply end.
      await raw.close();
      closes.set("client close", (closes.get("client close") ?? 0) + 1);
      continue;
    }
    const f = fatal(r, id);
    await send(raw, f.frames);
    // Frames after the violation are ignored by the server.
    if (r.chance(0.3)) await send(raw, Array.from({ length: r.int(1, 20) }, () => r.bytes(r.int(0, 64))));
    const closed = await closedWithin(raw).catch((err: Error) => {
      throw new Error(`seed ${seed}, connection ${connections} (${f.name}): ${err.message}`);
    });
    assert.ok(f.codes.includes(closed.code), `${f.name}: close code ${closed.code} (${closed.reason}), expected ${f.codes.join("/")} (seed ${seed})`);
    if (f.reason !== null) assert.match(closed.reason, f.reason, `${f.name} (seed ${seed})`);
    assert.equal(raw.decodeError, null, "the server's own frames decode");
    closes.set(f.name, (closes.get(f.name) ?? 0) + 1);
  }

  t.diagnostic(`${sent} frames over ${connections} connections, ${checks} SDK round trips; closes: ${JSON.stringify(Object.fromEntries(closes))}`);
  assert.ok(sent >= TOTAL);
  assert.ok(checks >= TOTAL / 50, "an SDK round trip every 50 frames");

  // Everything the raw clients held is released, and the SDK clients never noticed.
  await eventually(() => ts.server.rooms.get(ROOM)?.connections.size === 2, 10_000, "only alice and bob remain");
  await sdkCheck();
  await sdkCheck();
  await sdkCheck();
  assert.equal(Buffer.from((await bob.storage.download("seed.txt")).data).toString(), "seed");
  assert.equal(alice.messaging.getParticipantByName("bob")?.id, bob.localParticipant.id);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
  assert.deepEqual(watch.failures, [], "no uncaught exception or unhandled rejection");
});

test(
  "a participant cannot forge presence events for others through messaging.broadcast",
  async (t) => {
    const ts = await startTestServer();
    t.after(() => ts.close());
    const alice = await ts.client("forge", "alice");
    const bob = await ts.client("forge", "bob");
    alice.messaging.enable();
    bob.messaging.enable();
    await eventually(() => bob.messaging.getParticipantByName("alice") !== null, 5000, "bob sees alice");
    const mallory = await ts.client("forge", "mallory");
    const forge = (type: string, message: unknown) =>
      mallory.invoke({ toolkit: "messaging", tool: "broadcast", input: { type, message_json: JSON.stringify(message) } });
    // Either the server refuses the reserved types...
    const refused = await Promise.all([
      forge("participant.disabled", { id: alice.localParticipant.id }).then(() => false, () => true),
      forge("participant.enabled", { id: "fake", role: "agent", attributes: { name: "ceo" } }).then(() => false, () => true),
    ]);
    // ...or at least the forgeries have no effect on bob's view of the room.
    await bob.messaging.broadcastMessage({ type: "sync", message: {} });
    await alice.messaging.broadcastMessage({ type: "sync", message: {} });
    assert.deepEqual(refused, [true, true], "reserved message types are refused");
    assert.equal(bob.messaging.getParticipantByName("alice")?.id, alice.localParticipant.id, "alice is still present for bob");
    assert.equal(bob.messaging.getParticipantByName("ceo"), null, "no phantom participant");
  },
);
