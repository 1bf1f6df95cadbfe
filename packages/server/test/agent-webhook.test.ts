/**
 * `ports[].endpoints[].meshagent`: a real container in a room receives MeshAgent's `room.call`
 * webhook inside the room's namespace, checks its `Meshagent-Signature` with
 * MESHAGENT_WEBHOOK_SECRET the way MeshAgent's WebhookServer does, and joins the room with the
 * SDK using the token it was sent. Its first answer is a 503 (still starting): the call is retried.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { pythonJsonDumps, webhookSignature } from "../src/services/agent-webhooks.ts";
import { startServicesServer, IMAGES, docker, labelled, waitUntil } from "./services-env.ts";
import { settle } from "./helpers.ts";

// Runs in the chat-agent example image (/app has the SDK in node_modules). CommonJS via node -e.
const RECEIVER = `
const http = require("http"), crypto = require("crypto");
const { RoomClient, WebSocketClientProtocol } = require("@meshagent/meshagent");
const secret = process.env.MESHAGENT_WEBHOOK_SECRET;
let calls = 0, room = null;
http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/webhook") return res.writeHead(404).end();
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", async () => {
    calls++;
    if (calls === 1) return res.writeHead(503).end("starting");
    const [h, c, s] = String(req.headers["meshagent-signature"] || "").replace(/^Bearer /, "").split(".");
    const signed = secret && crypto.createHmac("sha256", secret).update(h + "." + c).digest("base64url") === s;
    const digestOk = signed && JSON.parse(Buffer.from(c, "base64url")).sha256 === crypto.createHash("sha256").update(body).digest("hex");
    if (!digestOk) { console.log("refused: bad signature"); return res.writeHead(401).end("bad signature"); }
    const p = JSON.parse(body);
    if (p.event !== "room.call") return res.writeHead(400).end();
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok": true}');
    console.log("call for " + p.data.room_name + " at " + p.data.room_url + " args " + JSON.stringify(p.data.arguments));
    room = new RoomClient({ protocolFactory: WebSocketClientProtocol.createFactory({ url: p.data.room_url, token: p.data.token }) });
    await room.start();
    room.messaging.enable();
    console.log("joined");
  });
}).listen(9300, "127.0.0.1");
process.on("SIGTERM", () => { try { room && room.dispose(); } catch {} process.exit(0); });
`;

test("room.call webhook: signed, retried while the service starts, and the service joins with the token it got", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 300 });
  t.after(() => env.close());
  const room = "hook-room";
  const serviceId = await env.addService(room, {
    version: "v1", kind: "Service", metadata: { name: "hooked" },
    container: { image: IMAGES.chat, command: ["/usr/local/bin/node", "-e", RECEIVER] },
    ports: [{ num: 9300, type: "http", endpoints: [{ path: "/webhook", meshagent: { identity: "webhook-agent", api: { messaging: {} } } }] }],
  });
  const alice = await env.ts.client(room, "alice");
  alice.messaging.enable();
  const agent = await waitUntil("the webhook agent joined", () => alice.messaging.remoteParticipants.find((p: any) => p.getAttribute("name") === "webhook-agent"), 60_000);
  assert.equal(agent.role, "agent");

  const states = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states;
  const st = states.find((s: any) => s.service_id === serviceId);
  const called = st.events.find((e: any) => e.reason === "WebhookCalled");
  assert.ok(called, JSON.stringify(st.events));
  assert.match(called.message, /http:\/\/127\.0\.0\.1:9300\/webhook for webhook-agent \(HTTP 200, attempt (\d+)\)/);
  assert.ok(Number(/attempt (\d+)/.exec(called.message)![1]) >= 2, "the 503 was retried");
  assert.ok(!st.events.some((e: any) => e.reason === "WebhookFailed"), JSON.stringify(st.events));

  // The secret is delivered at start, not in the container's config; no token in the server's logs.
  const [cid] = labelled(env.ownerId, room).filter((id) => docker("inspect", "-f", "{{index .Config.Labels \"dev.roomservice.service\"}}", id).trim() !== "");
  assert.ok(cid);
  assert.ok(!docker("inspect", cid!).includes("MESHAGENT_WEBHOOK_SECRET="), "not in docker inspect");
  assert.ok(!env.logs.some((l) => /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(l)), "no JWT in the server's logs");

  // A restarted service (a new process: its room connection died with the old one) is called again.
  const calledCount = async () => {
    const s = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states.find((x: any) => x.service_id === serviceId);
    return s.events.filter((e: any) => e.reason === "WebhookCalled").reduce((n: number, e: any) => n + e.count, 0);
  };
  assert.equal(await calledCount(), 1);
  await env.ts.server.launcher.restart(room, serviceId);
  await waitUntil("the second room.call", async () => ((await calledCount()) >= 2 ? true : undefined), 60_000);
  await waitUntil("the webhook agent back in the room", () => alice.messaging.remoteParticipants.find((p: any) => p.getAttribute("name") === "webhook-agent" && p.id !== agent.id), 60_000);
  await settle(alice);
});

test("the webhook body is byte-for-byte Python json.dumps, as MeshAgent's WebhookServer re-serializes it before hashing", () => {
  assert.equal(pythonJsonDumps({ event: "room.call", data: { room_name: "r", n: 1, ok: true, none: null, list: [1, "x"], s: "café \"q\" \u007f\n", args: {} } }),
    '{"event": "room.call", "data": {"room_name": "r", "n": 1, "ok": true, "none": null, "list": [1, "x"], "s": "caf\\u00e9 \\"q\\" \\u007f\\n", "args": {}}}');
  const body = '{"event": "room.call"}';
  const sig = webhookSignature(body, "s3cret").replace(/^Bearer /, "");
  const [h, c, s] = sig.split(".");
  assert.deepEqual(JSON.parse(Buffer.from(h!, "base64url").toString()), { alg: "HS256", typ: "JWT" });
  assert.equal(JSON.parse(Buffer.from(c!, "base64url").toString()).sha256, createHash("sha256").update(body).digest("hex"));
  assert.equal(s, createHmac("sha256", "s3cret").update(`${h}.${c}`).digest("base64url"));
});
