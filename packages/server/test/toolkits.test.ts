import { test } from "node:test";
import assert from "node:assert/strict";
import { startTestServer, sdk, eventually } from "./helpers.ts";

function makeToolkit(calls: any[]) {
  class Echo extends sdk.Tool {
    constructor() {
      super({ name: "echo", title: "Echo", description: "returns its input", inputSchema: { type: "object", properties: { text: { type: "string" } } } });
    }
    async execute(args: any) {
      calls.push(args);
      return new sdk.JsonContent({ json: { echoed: args.text, upper: String(args.text).toUpperCase() } });
    }
  }
  class Boom extends sdk.Tool {
    constructor() {
      super({ name: "boom", title: "Boom", description: "always fails", inputSchema: { type: "object" } });
    }
    async execute() {
      throw new Error("the tool exploded on purpose");
    }
  }
  return new sdk.Toolkit({ name: "demo", title: "Demo tools", description: "test toolkit", tools: [new Echo(), new Boom()] });
}

test("a participant's toolkit is listed, invoked and errors propagate; it vanishes when the host leaves", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const host = await ts.client("tk", "host", { role: "agent" });
  const caller = await ts.client("tk", "caller");
  const other = await ts.client("tk-other", "outsider");
  const calls: any[] = [];
  await sdk.startHostedToolkit({ room: host, toolkit: makeToolkit(calls) });

  const listed = await caller.listToolkits();
  assert.deepEqual(listed.map((tk: any) => tk.name), ["demo"]);
  assert.equal(listed[0].participantId, host.localParticipant.id);
  assert.deepEqual(listed[0].tools.map((x: any) => x.name).sort(), ["boom", "echo"]);
  assert.equal(listed[0].getTool("echo").description, "returns its input");
  assert.deepEqual(await other.listToolkits(), [], "another room does not see it");

  const result = await caller.invoke({ toolkit: "demo", tool: "echo", input: { text: "hello" } });
  assert.ok(result instanceof sdk.JsonContent);
  assert.deepEqual(result.json, { echoed: "hello", upper: "HELLO" });
  assert.deepEqual(calls, [{ text: "hello" }]);

  await assert.rejects(caller.invoke({ toolkit: "demo", tool: "boom", input: {} }), /the tool exploded on purpose/);
  await assert.rejects(other.invoke({ toolkit: "demo", tool: "echo", input: { text: "x" } }), /toolkit "demo" was not found/);

  // Registering a built-in name is refused.
  await assert.rejects(
    sdk.startHostedToolkit({ room: caller, toolkit: new sdk.Toolkit({ name: "storage", tools: [] }) }),
    /reserved for a built-in toolkit/,
  );

  host.dispose();
  await eventually(async () => (await caller.listToolkits()).length === 0, 5000, "toolkit to vanish");
  await assert.rejects(caller.invoke({ toolkit: "demo", tool: "echo", input: { text: "x" } }), /not found/);
});

test("a call in flight fails with a clear error when the host leaves", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const host = await ts.client("tk2", "host", { role: "agent" });
  const caller = await ts.client("tk2", "caller");
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  class Slow extends sdk.Tool {
    constructor() {
      super({ name: "slow", description: "never answers", inputSchema: { type: "object" } });
    }
    async execute() {
      started();
      return await new Promise(() => undefined);
    }
  }
  await sdk.startHostedToolkit({ room: host, toolkit: new sdk.Toolkit({ name: "slowkit", tools: [new Slow()] }) });
  const pending = caller.invoke({ toolkit: "slowkit", tool: "slow", input: {} });
  await startedP;
  host.dispose();
  await assert.rejects(pending, /left the room before answering/);
});

test("the developer log stream delivers entries written with developer.log", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const watcher = await ts.client("dev", "watcher");
  const writer = await ts.client("dev", "writer");
  const seen: any[] = [];
  const iter = watcher.developer.logs();
  const reading = (async () => {
    for await (const e of iter) {
      seen.push(e);
      if (seen.length === 2) break;
    }
  })();
  // The stream is live once the server has answered the open; write until it is.
  await eventually(async () => {
    await writer.developer.log("custom", { n: seen.length });
    return seen.length > 0;
  }, 5000, "first log entry");
  await writer.developer.log("custom", { final: true });
  await reading;
  assert.equal(seen[0].type, "custom");
  // The caller's data arrives unchanged: nothing (such as participant_id) is added inside it.
  assert.deepEqual(Object.keys(seen[0].data), ["n"]);
  assert.deepEqual(seen[1].data, { final: true });
});
