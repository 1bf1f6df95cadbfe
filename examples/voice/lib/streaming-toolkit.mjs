// Hosting a toolkit whose tools stream, on the MeshAgent wire protocol. SDK 0.39.9 can *call*
// streaming tools (`room.invokeStream`) but its `startHostedToolkit` only hosts one-shot ones
// (it rejects a `control: open` argument), so this module speaks the host side itself:
//
//   caller                         room server                          host (this)
//   room.invoke_tool {open, id} ─▶ room.tool_call.<toolkit> {open, id} ─▶ answer room.tool_call_response {control: open}
//   room.tool_call_request_chunk ─▶ room.tool_call_request_chunk      ─▶ input queue
//                                ◀─ room.tool_call_response_chunk     ◀─ output chunks, then {control: close}
//
// A one-shot `invoke` of the same tool also works: its argument is the only input chunk, and
// the output chunks are concatenated (audio) or collected (JSON) into one answer.
import { createRequire } from "node:module";

const sdk = createRequire(import.meta.url)("@meshagent/meshagent");
const { packMessage, unpackMessage } = sdk;

/** Input bytes one call may have queued and not yet consumed; beyond it the call fails. */
export const MAX_QUEUED_INPUT_BYTES = 8 * 1024 * 1024;
/** A stream whose caller sends nothing for this long is ended (the caller may have left). */
export const INPUT_IDLE_TIMEOUT_MS = 60_000;

/** Content header + payload → a plain chunk: {type, ...header fields, data?: Buffer}. */
function toChunk(header, payload) {
  const c = { ...header };
  if (payload !== undefined && payload.length > 0) c.data = Buffer.from(payload);
  return c;
}

/** Pull-side of a tool call's input: async iteration over chunks until the caller closes. */
class InputQueue {
  constructor(onIdle) {
    this.items = [];
    this.bytes = 0;
    this.closed = false;
    this.error = null;
    this.waiter = null;
    this.onIdle = onIdle;
    this.idle = setTimeout(() => this.fail(new Error(`no input for ${INPUT_IDLE_TIMEOUT_MS / 1000} s; ending the call`)), INPUT_IDLE_TIMEOUT_MS);
  }
  push(chunk) {
    if (this.closed) return;
    this.idle.refresh();
    if (chunk.type === "control" && chunk.method === "close") {
      this.close();
      return;
    }
    this.bytes += chunk.data?.length ?? 0;
    if (this.bytes > MAX_QUEUED_INPUT_BYTES) {
      this.fail(new Error(`more than ${MAX_QUEUED_INPUT_BYTES} bytes of input queued: send audio no faster than the tool consumes it`));
      return;
    }
    this.items.push(chunk);
    this.wake();
  }
  close() {
    this.closed = true;
    clearTimeout(this.idle);
    this.wake();
  }
  fail(err) {
    this.error ??= err;
    this.close();
  }
  wake() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this.error !== null) throw this.error;
      const item = this.items.shift();
      if (item !== undefined) {
        this.bytes -= item.data?.length ?? 0;
        yield item;
        continue;
      }
      if (this.closed) return;
      await new Promise((r) => (this.waiter = r));
    }
  }
}

/**
 * A toolkit of streaming tools hosted by this participant. Each tool is
 * `{description, title, inputSpec, outputSpec, run(input, output, call)}` where `input` is an
 * async iterable of chunks ({type: "binary"|"file"|"text"|"json", data?, ...}) and `output`
 * sends chunks back (`output.binary(data, headers)`, `output.file(...)`, `output.json(value)`,
 * `output.text(t)`). `call` has `caller` ({id, name, role}) and `toolCallId`.
 */
export class StreamingToolkit {
  constructor(room, { name, title, description, tools, log = console }) {
    this.room = room;
    this.name = name;
    this.title = title ?? name;
    this.description = description ?? "";
    this.tools = tools;
    this.log = log;
    this.inputs = new Map(); // tool_call_id -> InputQueue
    this.onCall = (protocol, messageId, type, data) => void this.handleCall(messageId, data);
    this.onRequestChunk = (protocol, messageId, type, data) => this.handleRequestChunk(data);
    this.registrationId = null;
  }

  async start() {
    this.room.protocol.addHandler(`room.tool_call.${this.name}`, this.onCall);
    this.room.protocol.addHandler("room.tool_call_request_chunk", this.onRequestChunk);
    const tools = {};
    for (const [toolName, t] of Object.entries(this.tools)) {
      tools[toolName] = { title: t.title ?? toolName, description: t.description, input_spec: t.inputSpec, output_spec: t.outputSpec };
    }
    const res = await this.room.sendRequest("room.register_toolkit", { name: this.name, title: this.title, description: this.description, tools, public: false });
    this.registrationId = res.json.id;
  }

  /** Ends every call in flight (their callers get an error chunk) and unregisters. */
  async stop() {
    for (const q of this.inputs.values()) q.fail(new Error("the voice service is stopping"));
    if (this.registrationId !== null && !this.room.isClosed) {
      await this.room.sendRequest("room.unregister_toolkit", { id: this.registrationId }).catch(() => undefined);
    }
    this.registrationId = null;
  }

  handleRequestChunk(data) {
    const [header, payload] = unpackMessage(data);
    const q = this.inputs.get(header.tool_call_id);
    if (q === undefined || typeof header.chunk !== "object" || header.chunk === null) return;
    q.push(toChunk(header.chunk, payload));
  }

  async handleCall(messageId, data) {
    const [message, payload] = unpackMessage(data);
    const toolCallId = String(message.tool_call_id);
    const args = message.arguments ?? { type: "empty" };
    const streamed = args.type === "control" && args.method === "open";
    const tool = this.tools[message.name];
    const respond = (header, body) => this.room.protocol.send("room.tool_call_response", packMessage(header, body), { id: messageId });
    if (tool === undefined) {
      await respond({ type: "error", text: `tool "${message.name}" is not in toolkit ${this.name} (available: ${Object.keys(this.tools).join(", ")})` });
      return;
    }
    const call = { toolCallId, caller: message.caller ?? {}, streamed };
    if (!streamed) return this.runOnce(tool, call, toChunk(args, payload), respond);

    // Registered before the first await: request chunks may already be on their way.
    const input = new InputQueue();
    this.inputs.set(toolCallId, input);
    await respond({ type: "control", method: "open" });
    const send = (header, body) => this.room.protocol.send("room.tool_call_response_chunk", packMessage({ tool_call_id: toolCallId, chunk: header }, body));
    const output = outputOf(send);
    try {
      await tool.run(input, output, call);
    } catch (err) {
      this.log.warn?.(`${this.name}.${message.name} failed: ${err.message}`);
      await send({ type: "error", text: `${this.name}.${message.name}: ${err.message}` }).catch(() => undefined);
    } finally {
      input.close();
      this.inputs.delete(toolCallId);
      await send({ type: "control", method: "close", status_code: 1000 }).catch(() => undefined);
    }
  }

  /** A one-shot call: one input chunk, outputs gathered into one answer. */
  async runOnce(tool, call, chunk, respond) {
    const input = new InputQueue();
    if (chunk.type !== "empty") input.push(chunk);
    input.close();
    const binaries = [];
    let binaryHeaders = null;
    const jsons = [];
    const output = outputOf(async (header, body) => {
      if (header.type === "binary" || header.type === "file") {
        binaries.push(Buffer.from(body ?? []));
        binaryHeaders ??= header;
      } else if (header.type === "json") jsons.push(header.json);
      else if (header.type === "text") jsons.push({ text: header.text });
    });
    try {
      await tool.run(input, output, call);
      if (binaries.length > 0) await respond({ ...binaryHeaders }, Buffer.concat(binaries));
      else await respond({ type: "json", json: tool.gather ? tool.gather(jsons) : { chunks: jsons } });
    } catch (err) {
      await respond({ type: "error", text: `${this.name}: ${err.message}` });
    }
  }
}

function outputOf(send) {
  return {
    binary: (data, headers = {}) => send({ type: "binary", headers }, data),
    file: (data, name, mimeType) => send({ type: "file", name, mime_type: mimeType }, data),
    json: (value) => send({ type: "json", json: value }),
    text: (text) => send({ type: "text", text }),
  };
}
