import { test } from "node:test";
import assert from "node:assert/strict";
import { startServicesServer, manifest, IMAGES, labelled, execNode, docker, waitUntil } from "./services-env.ts";

const SECRET = "sk-live-7f3a9c1e5b2d4086a1c3e5f7";

test("a service reads its secret as a file and as env; a sibling cannot; the value never appears in logs, APIs or docker inspect", async (t) => {
  const env = await startServicesServer({ departureTimeoutMs: 500 });
  t.after(() => env.close());
  const ts = env.ts;
  await ts.server.secrets.set("default", null, "third-party-api-key", "opaque", Buffer.from(SECRET), Date.now());
  const readerId = await env.addService("vault", manifest("reader", IMAGES.secret, {
    container: { image: IMAGES.secret, environment: [{ name: "API_KEY", secret: { id: "third-party-api-key" } }, { name: "PORT", value: "8081" }] },
    ports: [{ num: 8081, type: "http", liveness: "/" }],
  }));
  await env.addService("vault", manifest("sibling", IMAGES.http, { ports: [{ num: 8080, type: "http", liveness: "/healthz" }] }));

  const alice = await ts.client("vault", "alice");
  // Developer logs stream: service output arrives here, masked.
  const devLines: string[] = [];
  void (async () => {
    for await (const e of alice.developer.logs()) if (e.type === "service.log") devLines.push(JSON.stringify(e.data));
  })().catch(() => undefined);

  const states = await waitUntil("both running", async () => {
    const st = (await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json.service_states as any[];
    return st.length === 2 && st.every((s) => s.state === "running") ? st : null;
  });
  const reader = states.find((s) => s.service_id === readerId).container_id as string;
  const sibling = states.find((s) => s.service_id !== readerId).container_id as string;

  // Service A sees the secret as a 0400 file and as env.
  const seen = JSON.parse((await execNode(reader, "fetch('http://127.0.0.1:8081/').then(r=>r.text()).then(console.log)")).out);
  // Next to it only the service's own session values (its token and session id, delivered as files).
  assert.deepEqual(seen.files, ["API_KEY", "MESHAGENT_SESSION_ID", "MESHAGENT_TOKEN"]);
  assert.equal(seen.file, SECRET);
  assert.equal(seen.env, SECRET);
  const mode = await execNode(reader, "console.log((require('fs').statSync('/run/secrets/API_KEY').mode & 0o777).toString(8))");
  assert.equal(mode.out, "400");
  // Service B has no such file and no such env var.
  const b = await execNode(sibling, "let f=[];try{f=require('fs').readdirSync('/run/secrets')}catch{};console.log(JSON.stringify({f, env: process.env.API_KEY ?? null}))");
  assert.deepEqual(JSON.parse(b.out), { f: ["MESHAGENT_SESSION_ID", "MESHAGENT_TOKEN"], env: null });

  // The reader printed the value; every log view shows it masked.
  await waitUntil("masked line in developer logs", () => devLines.some((l) => l.includes("API_KEY from env is ****")), 15_000);
  const admin = (await ts.server.apiKeys.create("default", "t", Date.now())).key;
  const sse = await fetch(`${ts.url}/accounts/projects/default/rooms/vault/services/${readerId}/logs?token=${admin}`);
  assert.equal(sse.status, 200);
  const reader2 = sse.body!.getReader();
  let sseText = "";
  while (!sseText.includes(": live")) sseText += new TextDecoder().decode((await reader2.read()).value);
  await reader2.cancel();
  assert.match(sseText, /API_KEY from env is \*\*\*\*/);

  // The session's log file of the service is kept, masked too.
  const kept = await (await fetch(`${ts.url}/accounts/projects/default/rooms/vault/sessions/${alice.sessionId}/services/${readerId}/logs`, { headers: { authorization: `Bearer ${admin}` } })).text();
  assert.match(kept, /API_KEY from env is \*\*\*\*/);

  // Nowhere: server logs, REST responses, services.list, docker inspect.
  const rest = await Promise.all(
    ["services", "secrets", "rooms/vault/services", "rooms/vault/secrets", `services/${readerId}`].map((p) =>
      fetch(`${ts.url}/accounts/projects/default/${p}`, { headers: { authorization: `Bearer ${admin}` } }).then((r) => r.text()),
    ),
  );
  const list = JSON.stringify((await alice.invoke({ toolkit: "services", tool: "list", input: {} })).json);
  const inspect = labelled(env.ownerId).map((id) => docker("inspect", id)).join("\n");
  const places: Record<string, string> = {
    "server logs": env.logs.join(""), "REST responses": rest.join("\n"), "services.list": list,
    "developer logs": devLines.join("\n"), "SSE log stream": sseText, "session log file": kept, "docker inspect": inspect,
  };
  for (const [where, text] of Object.entries(places)) assert.ok(!text.includes(SECRET), `the secret leaked into ${where}`);
  assert.ok(inspect.includes("ROOMSERVICE_SECRET_ENV=API_KEY"), "inspect shows only which names are loaded from /run/secrets");
});
