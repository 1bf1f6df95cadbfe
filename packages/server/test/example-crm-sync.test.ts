import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startServicesServer, manifest, IMAGES, execNode, docker, waitUntil } from "./services-env.ts";
import { eventually } from "./helpers.ts";
import { THREAD_SCHEMA_PATH } from "../src/toolkits/sync/index.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

/** Files every agent service's /run/secrets holds: its own session values (not secrets of the project). */
const SESSION_FILES = ["MESHAGENT_SESSION_ID", "MESHAGENT_TOKEN"];

// The SDK prints every document change with console.log (agent-kit's filter, as the example agents use it).
quietDocumentChangeLog();

const KEY_1 = "crm_live_" + createHash("sha256").update(String(Math.random())).digest("hex").slice(0, 24);
const KEY_2 = "crm_live_" + createHash("sha256").update(String(Math.random())).digest("hex").slice(0, 24);
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** The two example manifests as the README shows them, with the stand-in expecting `key`. */
function manifests(key: string) {
  const crm = manifest("crm-sync", IMAGES.crm, {
    container: {
      image: IMAGES.crm,
      environment: [{ name: "CRM_BASE_URL", value: "http://127.0.0.1:9100" }, { name: "CRM_API_KEY", secret: { id: "crm-api-key" } }],
    },
    roomservice: { secrets: { env: false } },
  });
  const standin = manifest("crm-standin", IMAGES.crmStandin, {
    container: { image: IMAGES.crmStandin, environment: [{ name: "PORT", value: "9100" }, { name: "CRM_KEY_SHA256", value: sha256(key) }] },
    ports: [{ num: 9100, type: "http", liveness: "/healthz" }],
  });
  return { crm, standin };
}

/** Sends `text` to the crm-sync participant and waits for its chat answer. */
async function ask(client: any, text: string): Promise<string> {
  const agent = await waitUntil("crm-sync joined", () => client.messaging.remoteParticipants.find((p: any) => p.getAttribute("name") === "crm-sync"), 60_000);
  const answer = new Promise<string>((resolve) => {
    const on = (e: any) => {
      // Plain messaging answers only: a thread's `chat {path}` notices are askInThread's.
      if (e.message.type === "chat" && e.message.fromParticipantId === agent.id && e.message.message.path === undefined) {
        client.messaging.off("message", on);
        resolve(e.message.message.text);
      }
    };
    client.messaging.on("message", on);
  });
  await client.messaging.sendMessage({ to: agent, type: "chat", message: { text } });
  return answer;
}

test("crm-sync: chat look-ups reach the CRM with a key only it can read; the key is nowhere else; rotation applies at the next session", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 300 });
  t.after(() => env.close());
  const ts = env.ts;
  const secretId = (await ts.server.secrets.set("default", null, "crm-api-key", "opaque", Buffer.from(KEY_1), Date.now())).id;
  const m = manifests(KEY_1);
  const crmId = await env.addService("sales", m.crm);
  const standinId = await env.addService("sales", m.standin);

  const alice = await ts.client("sales", "alice");
  alice.messaging.enable();
  const reply = await ask(alice, "look up ACME");
  assert.match(reply, /^ACME Corporation \(manufacturing\) — owner Dana Whitfield; 3 open deal\(s\) worth \$182,000$/);
  assert.equal(await ask(alice, "find Nobody Inc"), `No company matching "Nobody Inc" in the CRM.`);
  // Asked in the room chat (a thread document), the answer is appended to that thread, below the question.
  const inThread = await askInThread(alice, ".threads/crm-alice.thread", "look up ACME");
  assert.match(inThread.answer, /^ACME Corporation \(manufacturing\) — owner Dana Whitfield; 3 open deal\(s\) worth \$182,000$/);
  assert.deepEqual(inThread.messages.map(([who]) => who), ["alice", "crm-sync"]);
  await alice.sync.close(".threads/crm-alice.thread");

  const states = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
  const crmContainer = states.find((s) => s.service_id === crmId).container_id as string;
  const standinContainer = states.find((s) => s.service_id === standinId).container_id as string;

  // The key reaches crm-sync as a 0400 file only: not in its env (secrets.env: false).
  // (/run/secrets also holds the session's own values, MESHAGENT_TOKEN and MESHAGENT_SESSION_ID,
  // delivered as files so they stay out of docker inspect.)
  const own = JSON.parse((await execNode(crmContainer, "const fs=require('fs');console.log(JSON.stringify({files: fs.readdirSync('/run/secrets').sort(), env: Object.values(process.env).some(v => v.includes(" + JSON.stringify(KEY_1) + "))}))")).out);
  assert.deepEqual(own, { files: ["CRM_API_KEY", ...SESSION_FILES], env: false });
  // The other service of the same room cannot read it: no secret files, not in its env, not in
  // any process environment it can see (separate PID namespaces).
  const probe = await execNode(standinContainer, `
    const fs = require('fs');
    let files = []; try { files = fs.readdirSync('/run/secrets').sort(); } catch {}
    const inFiles = files.some((f) => { try { return fs.readFileSync('/run/secrets/' + f, 'utf8').includes(${JSON.stringify(KEY_1)}); } catch { return false; } });
    const environs = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).map((p) => { try { return fs.readFileSync('/proc/' + p + '/environ', 'utf8'); } catch { return ''; } }).join('\\n');
    console.log(JSON.stringify({ files: files.filter((f) => !${JSON.stringify(SESSION_FILES)}.includes(f)), inFiles, seen: environs.includes(${JSON.stringify(KEY_1)}) || JSON.stringify(process.env).includes(${JSON.stringify(KEY_1)}) }));`);
  assert.deepEqual(JSON.parse(probe.out), { files: [], inFiles: false, seen: false });

  // Nowhere an operator looks: docker inspect of every container, the REST API, the server's
  // own log, the kept service logs.
  for (const id of [crmContainer, standinContainer]) assert.ok(!docker("inspect", id).includes(KEY_1), `docker inspect ${id} shows the key`);
  const admin = (await ts.server.apiKeys.create("default", "t", Date.now())).key;
  for (const p of ["secrets", `secrets/${secretId}`, "rooms/sales/services", `rooms/sales/services/${crmId}`]) {
    const body = await (await fetch(`${ts.url}/accounts/projects/default/${p}`, { headers: { authorization: `Bearer ${admin}` } })).text();
    assert.ok(!body.includes(KEY_1), `GET ${p} shows the key`);
  }
  const sessionId = alice.sessionId as string;

  // Rotation: the new value applies at the next session, not to the live one.
  await ts.server.secrets.update(secretId, { value: Buffer.from(KEY_2) }, Date.now());
  assert.match(await ask(alice, "look up globex"), /^Globex \(energy\)/, "the live session keeps the key it started with");
  await leave(ts, alice);
  // Next session: crm-sync now sends KEY_2, which the CRM (still expecting KEY_1) refuses.
  const bob = await ts.client("sales", "bob");
  bob.messaging.enable();
  assert.equal(await ask(bob, "look up globex"), "The CRM refused our key (HTTP 401); ask the operator to rotate the crm-api-key secret.");
  await leave(ts, bob);
  // Once the CRM side is rotated too, the session after works again.
  await ts.server.services.update(standinId, "crm-standin", manifests(KEY_2).standin, Date.now());
  const carol = await ts.client("sales", "carol");
  carol.messaging.enable();
  assert.match(await ask(carol, "look up initech"), /^Initech \(software\) — owner Bill Lumbergh; 0 open deal\(s\) worth \$0$/);
  assert.notEqual(sessionId, carol.sessionId);

  // After all of that, the server log and the kept logs of both sessions still hold neither key.
  const serverLog = env.logs.join("");
  for (const k of [KEY_1, KEY_2]) assert.ok(!serverLog.includes(k), "server log shows a key");
  const kept = await collect(join(env.ts.dataDir));
  for (const k of [KEY_1, KEY_2]) assert.ok(!kept.includes(k), "a kept log file shows a key");
  assert.ok(kept.includes("looked up \\\"ACME\\\": HTTP 200") || kept.includes('looked up "ACME": HTTP 200'), "crm-sync's own log line was kept");
});

function messagesOf(doc: any): any[] {
  return doc.root.getChildren().find((c: any) => c.tagName === "messages")?.getChildren() ?? [];
}

/**
 * What Studio's chat (MeshAgent's useChat) does: append the question to a thread document
 * with crm-sync as a member and send it a `chat {path, text}` notice; resolves with the
 * answer crm-sync appended to the document, read back through the SDK.
 */
async function askInThread(client: any, path: string, text: string): Promise<{ answer: string; messages: [string, string][] }> {
  const agent = await waitUntil("crm-sync joined", () => client.messaging.remoteParticipants.find((p: any) => p.getAttribute("name") === "crm-sync"), 60_000);
  await eventually(() => client.storage.exists(THREAD_SCHEMA_PATH), 5000, "the seeded thread schema");
  const doc = await client.sync.open(path);
  const members = doc.root.getChildren().find((c: any) => c.tagName === "members");
  members.createChildElement("member", { name: client.localParticipant.getAttribute("name") });
  members.createChildElement("member", { name: "crm-sync" });
  const before = messagesOf(doc).length;
  doc.root.getChildren().find((c: any) => c.tagName === "messages")
    .createChildElement("message", { id: `q${before}`, text, created_at: new Date().toISOString(), author_name: client.localParticipant.getAttribute("name"), author_ref: null });
  await client.messaging.sendMessage({ to: agent, type: "chat", message: { path, text, attachments: [] } });
  const reply = await waitUntil("crm-sync's answer in the thread", () => messagesOf(doc).slice(before).find((m) => m.getAttribute("author_name") === "crm-sync"), 30_000);
  return { answer: reply.getAttribute("text"), messages: messagesOf(doc).map((m) => [m.getAttribute("author_name"), m.getAttribute("text")]) };
}

/** Disconnects a client and waits for its room's session to end (departure timeout 300 ms). */
async function leave(ts: { server: { rooms: { get(r: string): { session: unknown } | undefined } } }, client: any): Promise<void> {
  client.dispose();
  await waitUntil("session over", () => (ts.server.rooms.get("sales")?.session ?? null) === null ? true : null, 30_000);
}

/** Every .jsonl/.log file under the data directory, concatenated (kept service logs). */
async function collect(dir: string): Promise<string> {
  let out = "";
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && /\.(jsonl|log)$/.test(e.name)) out += await readFile(join(e.parentPath, e.name), "utf8");
  }
  return out;
}
