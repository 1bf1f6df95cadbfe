import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli, startTestServer, sdk } from "./helpers.ts";



async function setup(t: { after(fn: () => unknown): void }, o: Parameters<typeof startTestServer>[0] = {}) {
  const ts = await startTestServer(o);
  t.after(() => ts.close());
  const key = (await ts.server.apiKeys.create("default", "ops", Date.now())).key;
  const call = (method: string, path: string, body?: unknown, k = key) =>
    fetch(`${ts.url}${path.startsWith("/") && !path.startsWith("/accounts") && !path.startsWith("/auth") && !path.startsWith("/openai") ? `/accounts/projects/default${path}` : path}`, {
      method, headers: { authorization: `Bearer ${k}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  return { ts, key, call };
}

test("every REST body is strict: an unknown field is a 400 naming it, in the same shape as a bad manifest", async (t) => {
  const { call } = await setup(t);
  const secret = { name: "s1", data_base64: Buffer.from("v").toString("base64") };
  const cases: [string, string, Record<string, unknown>, string][] = [
    ["POST", "/secrets", { ...secret, frobnicate: 1 }, "frobnicate"],
    ["POST", "/rooms/r1/secrets", { ...secret, frobnicate: 1 }, "frobnicate"],
    ["PUT", "/rooms/r1/settings", { departure_timeout_seconds: 5, color: "red" }, "color"],
    ["POST", "/rooms", { name: "r2", colour: "red" }, "colour"],
    ["POST", "/api-keys", { name: "k", scope: "all" }, "scope"],
    ["PUT", "/llm", { base_url: "https://example.com/v1", model: "x" }, "model"],
    ["POST", "/auth/session", { api_key: "x", remember: true }, "remember"],
  ];
  for (const [method, path, body, field] of cases) {
    const r = await call(method, path, body);
    const j = (await r.json()) as any;
    assert.equal(r.status, 400, `${method} ${path}: ${JSON.stringify(j)}`);
    assert.equal(j.code, "bad_request", path);
    assert.match(j.error, new RegExp(`${field}: unknown field`), path);
    assert.deepEqual(j.errors.map((e: any) => e.path), [field], path);
    assert.equal(j.errors[0].got, `the field ${JSON.stringify(field)}`, path);
    assert.equal(typeof j.errors[0].expected, "string", path);
  }
  // The manifest's shape, for comparison: {error, code, errors[{path, message, expected, got}]}.
  const bad = (await (await call("POST", "/services", { version: "v1", kind: "Service", metadata: { name: "x" }, container: { image: "a" }, frobnicate: 1 })).json()) as any;
  assert.deepEqual(Object.keys(bad.errors[0]).sort(), ["expected", "got", "message", "path", "received"]);
  assert.deepEqual(Object.keys((await (await call("POST", "/secrets", { ...secret, frobnicate: 1 })).json() as any).errors[0]).sort(), ["expected", "got", "message", "path", "received"]);
  // Wrong types and values are located the same way.
  const wrong = (await (await call("PUT", "/rooms/r1/settings", { departure_timeout_seconds: "soon" })).json()) as any;
  assert.equal(wrong.errors[0].path, "departure_timeout_seconds");
  assert.equal(wrong.errors[0].got, JSON.stringify("soon"));
  // Valid bodies still work, including what the SDK sends.
  assert.equal((await call("POST", "/secrets", secret)).status, 201);
  assert.equal((await call("PUT", "/rooms/r1/settings", { departure_timeout_seconds: null })).status, 204);
});

test("a body over the limit says the limit and the setting that raises it; auth is checked before the body is read", async (t) => {
  const { ts, call } = await setup(t);
  const big = JSON.stringify({ name: "big", data_base64: "A".repeat(2 * 1024 * 1024) });
  const r = await call("POST", "/secrets", big);
  assert.equal(r.status, 413);
  const j = (await r.json()) as any;
  assert.equal(j.code, "payload_too_large");
  assert.equal(j.limit_bytes, 1024 * 1024);
  assert.match(j.error, /the limit is 1 MiB \(1048576 bytes\); raise it with ROOMSERVICE_MAX_BODY_BYTES/);

  // A wrong key with a 20 MB body: 401, on the REST API and on the LLM proxy alike.
  const huge = "x".repeat(20 * 1024 * 1024);
  for (const path of ["/secrets", "/rooms/r1/settings", "/openai/v1/chat/completions"]) {
    const w = await call(path.includes("settings") ? "PUT" : "POST", path, huge, "wrong-key");
    assert.equal(w.status, 401, `${path}: ${await w.text()}`);
  }
  // The limit is a setting.
  const { call: call8 } = await setup(t, { maxBodyBytes: 8 * 1024 * 1024 });
  assert.equal((await call8("POST", "/secrets", big)).status, 201);
  void ts;
});

test("a room the server has never seen is 404 on every route about the room; writes make it known", async (t) => {
  const { ts, key, call } = await setup(t);
  for (const path of ["/rooms/nosuchroom", "/rooms/nosuchroom/live", "/rooms/nosuchroom/sessions"]) {
    const r = await call("GET", path);
    assert.equal(r.status, 404, path);
    assert.match(((await r.json()) as any).error, /^room "nosuchroom" not found/, path);
  }
  const remote = ["--url", ts.url, "--api-key", key];
  for (const args of [["services"], ["sessions"], ["logs"], ["events"]]) {
    const r = await runCli(["room", ...args, "nosuchroom", ...remote]);
    assert.equal(r.code, 2, `${args}: ${r.out}${r.err}`);
    assert.match(r.err, /no room "nosuchroom" on the server at .*: it has no sessions, services, secrets or settings/, args.join());
  }
  // A room service makes the room known: the room, its live state and its sessions answer.
  const api = new sdk.Meshagent({ baseUrl: ts.url, token: key });
  await api.createRoomService("default", "nosuchroom", { version: "v1", kind: "Service", metadata: { name: "web" }, container: { image: "a" }, ports: [{ num: 9100, type: "http", liveness: "/healthz" }] });
  for (const path of ["/rooms/nosuchroom", "/rooms/nosuchroom/live", "/rooms/nosuchroom/sessions"]) assert.equal((await call("GET", path)).status, 200, path);
  const services = await runCli(["room", "services", "nosuchroom", ...remote]);
  assert.equal(services.code, 0, services.err);
  assert.match(services.out, /room nosuchroom: no session/);
  // An idle room's services are stopped; their ports show no liveness status ("not_ready" misled).
  assert.match(services.out, /web\s+stopped\s+0\s+-\s+9100\/http\s/);
  assert.doesNotMatch(services.out, /not_ready/);
});
