/**
 * examples/mcp-tools end to end: the image built from the example, a real container in a room,
 * the MCP bridge connecting inside the room's namespace, and SDK participants using the tools.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseManifest } from "@roomservice/manifest";
import { startServicesServer, IMAGES, docker, labelled, waitUntil } from "./services-env.ts";
import { settle } from "./helpers.ts";

const exampleYaml = fileURLToPath(new URL("../../../examples/mcp-tools/meshagent.yaml", import.meta.url));

/** The example's own meshagent.yaml, with the image the test built. */
function exampleManifest(edit: (m: any) => void = () => {}): Record<string, unknown> {
  const r = parseManifest(readFileSync(exampleYaml, "utf8"), { filename: exampleYaml });
  if (!r.ok) throw new Error(`examples/mcp-tools/meshagent.yaml is invalid: ${JSON.stringify(r.errors)}`);
  const m = structuredClone(r.raw) as any;
  m.container.image = IMAGES.mcp;
  edit(m);
  return m;
}

const ORDERS = [
  "id,customer,amount,currency",
  "1,ACME,120.50,EUR",
  "2,Globex,,USD", //         line 3: amount missing
  "3,Initech,abc,EUR", //     line 4: amount not a number
  "4,Umbrella,99,GBP",
  "5,Hooli,10,EUR,surplus", // line 6: one column too many (malformed record)
  "6,Stark,7.25,JPY", //      line 7: currency not in the enum
].join("\n") + "\n";

const ROW_SCHEMA = {
  type: "object",
  required: ["id", "customer", "amount", "currency"],
  properties: {
    id: { type: "integer", minimum: 1 },
    customer: { type: "string", minLength: 1 },
    amount: { type: "number", minimum: 0 },
    currency: { enum: ["EUR", "USD", "GBP"] },
  },
};

test("mcp-tools: the toolkit appears, validate_csv checks an uploaded CSV, allowed_tools hides and refuses remove_file, and the toolkit is gone after the session", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 300 });
  t.after(() => env.close());
  const room = "mcp-room";
  const serviceId = await env.addService(room, exampleManifest());

  const alice = await env.ts.client(room, "alice");
  const storageEvents: { path: string; by: unknown }[] = [];
  // (not the thread schema the server seeds, and announces, as the session starts)
  alice.storage.on("file.updated", (e: any) => void (e.path !== ".schemas/thread.json" && storageEvents.push({ path: e.path, by: e.participantId })));
  const tk = await waitUntil("the data-tools toolkit", async () => (await alice.listToolkits()).find((k: any) => k.name === "data-tools"), 60_000);
  // allowed_tools: read-only tools plus markdown_report; the destructive remove_file is not listed.
  assert.deepEqual(tk.tools.map((x: any) => x.name).sort(), ["markdown_report", "validate_csv"]);
  assert.equal(tk.description, "Validate CSV files against a JSON Schema; summarise room files as Markdown");
  // Input schemas are the MCP server's, passed through.
  const vs = tk.getTool("validate_csv").inputSchema;
  assert.deepEqual(vs.required.sort(), ["path", "schema"]);
  assert.equal(vs.properties.path.type, "string");

  await alice.storage.upload("inbox/orders.csv", Buffer.from(ORDERS));
  const r = await alice.invoke({ toolkit: "data-tools", tool: "validate_csv", input: { path: "inbox/orders.csv", schema: ROW_SCHEMA } });
  assert.equal(r.constructor.name, "JsonContent");
  const v = r.json;
  assert.equal(v.rows, 6);
  assert.equal(v.valid_rows, 2);
  assert.equal(v.invalid_rows, 4);
  assert.deepEqual(v.columns, ["id", "customer", "amount", "currency"]);
  const byLine = new Map<number, any[]>();
  for (const e of v.errors) byLine.set(e.line, [...(byLine.get(e.line) ?? []), e]);
  assert.deepEqual([...byLine.keys()].sort(), [3, 4, 6, 7]);
  assert.equal(byLine.get(3)![0].column, "amount");
  assert.match(byLine.get(3)![0].message, /required/);
  assert.equal(byLine.get(4)![0].column, "amount");
  assert.equal(byLine.get(4)![0].value, "abc");
  assert.match(byLine.get(6)![0].message, /column|record/i);
  assert.equal(byLine.get(7)![0].column, "currency");

  // A tool error of the MCP server (missing file) reaches the caller as an error, not a hang.
  await assert.rejects(
    alice.invoke({ toolkit: "data-tools", tool: "validate_csv", input: { path: "inbox/missing.csv", schema: ROW_SCHEMA } }),
    /ENOENT|no such file/,
  );

  // markdown_report writes into room storage; the participant downloads what the service wrote.
  const md = await alice.invoke({ toolkit: "data-tools", tool: "markdown_report", input: { folder: "inbox", title: "Orders", save_as: "reports/orders.md" } });
  assert.match(md.text, /^# Orders/);
  assert.match(md.text, /\| amount \| 1 \|/);
  const saved = await alice.storage.download("reports/orders.md");
  assert.equal(Buffer.from(saved.data).toString("utf8"), md.text);
  // The service wrote through its mount, and participants still hear about it (once, with no
  // participant id, and never about the temp file); alice's own upload is not echoed back.
  await waitUntil("the storage event for the report", () => storageEvents.find((e) => e.path === "reports/orders.md"));
  assert.deepEqual(storageEvents, [{ path: "reports/orders.md", by: null }]);

  // Outside allowed_tools: refused by the bridge, and the file is still there.
  await assert.rejects(
    alice.invoke({ toolkit: "data-tools", tool: "remove_file", input: { path: "inbox/orders.csv" } }),
    /not exposed by toolkit "data-tools"/,
  );
  assert.equal(await alice.storage.exists("inbox/orders.csv"), true);

  // The connection shows on the service.
  const states = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states;
  const st = states.find((s: any) => s.service_id === serviceId);
  assert.ok(st.events.some((e: any) => e.reason === "McpConnected" && /data-tools/.test(e.message)), JSON.stringify(st.events));

  // A participant cannot register a toolkit under the bridged name.
  await assert.rejects(
    alice.sendRequest("room.register_toolkit", { name: "data-tools", tools: {} }),
    /taken by a service's MCP server/,
  );

  // Session end: the toolkit and the bridge's hold on the room go away.
  const stopped = new Promise<void>((resolve) => env.ts.server.launcher.stopped.once("stopped", () => resolve()));
  await settle(alice);
  alice.dispose();
  await stopped;
  assert.deepEqual(env.ts.server.mcp.toolkitNames(room), []);
  assert.equal(env.ts.server.mcp.holds(room), false);
  assert.deepEqual(labelled(env.ownerId, room), []);
});

test("mcp-tools: an MCP endpoint that does not answer MCP shows as a Warning event on the service, and no toolkit appears", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 300 });
  t.after(() => env.close());
  const room = "mcp-bad";
  const serviceId = await env.addService(room, exampleManifest((m) => {
    m.ports[0].endpoints[0].path = "/not-mcp";
  }));
  const alice = await env.ts.client(room, "alice");
  const ev = await waitUntil("an McpFailed event", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states.find((s: any) => s.service_id === serviceId);
    return st?.events.find((e: any) => e.reason === "McpFailed");
  }, 60_000);
  assert.equal(ev.type, "Warning");
  assert.match(ev.message, /\/not-mcp/);
  assert.match(ev.message, /404/);
  assert.equal((await alice.listToolkits()).some((k: any) => k.name === "data-tools"), false);
  await assert.rejects(alice.invoke({ toolkit: "data-tools", tool: "validate_csv", input: {} }), /not found/);
});

test("mcp-tools: when the service's container dies the toolkit disappears and calls are refused, not hung", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 300 });
  t.after(() => env.close());
  const room = "mcp-kill";
  const serviceId = await env.addService(room, exampleManifest((m) => {
    m.roomservice = { restart: { policy: "never" } };
  }));
  const alice = await env.ts.client(room, "alice");
  await waitUntil("the data-tools toolkit", async () => (await alice.listToolkits()).find((k: any) => k.name === "data-tools"), 60_000);
  const state = async () => (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states.find((s: any) => s.service_id === serviceId);
  const container = (await state()).container_id as string;

  docker("kill", container);
  await waitUntil("the service to exit", async () => ((await state()).state === "exited" ? true : null), 30_000);
  await waitUntil("the toolkit to disappear", async () => ((await alice.listToolkits()).some((k: any) => k.name === "data-tools") ? null : true), 10_000);
  await assert.rejects(alice.invoke({ toolkit: "data-tools", tool: "validate_csv", input: { path: "x.csv", schema: {} } }), /not found/);
});
