/** Issue #12 items 2, 3, 5, 6, 9, 10: grants, handshakes, secrets, uploads, names. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startTestServer, settle } from "./helpers.ts";
import { refusedHandshake } from "./raw-client.ts";
import { defaultApiScope, mintParticipantToken } from "../src/index.ts";
import { storageToolkit } from "../src/toolkits/storage.ts";
import { messagingToolkit } from "../src/toolkits/messaging.ts";
import { developerToolkit } from "../src/toolkits/developer.ts";
import { servicesToolkit } from "../src/toolkits/services.ts";

test("item 2: storage path grants match whole path segments, not string prefixes", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const room = "segments";
  const admin = await ts.client(room, "admin");
  await admin.storage.upload("pub/a.txt", Buffer.from("public"));
  await admin.storage.upload("pub-private/secret.txt", Buffer.from("private"));
  await admin.storage.upload("public-keys.txt", Buffer.from("keys"));
  for (const grantPath of ["pub", "pub/", "/pub"]) {
    const reader = await ts.client(room, `reader-${grantPath.replace(/\//g, "_")}`, { api: { storage: { paths: [{ path: grantPath, read_only: true }] } } });
    assert.equal(Buffer.from((await reader.storage.download("pub/a.txt")).data).toString(), "public", grantPath);
    await assert.rejects(reader.storage.download("pub-private/secret.txt"), /outside the token's storage grant/, grantPath);
    await assert.rejects(reader.storage.download("public-keys.txt"), /outside the token's storage grant/, grantPath);
    await assert.rejects(reader.storage.list("pub-private"), /outside the token's storage grant/, grantPath);
    await settle(reader);
  }
  // The most specific grant decides: read-only "pub" inside a writable root.
  const mixed = await ts.client(room, "mixed", { api: { storage: { paths: [{ path: "" }, { path: "pub", read_only: true }] } } });
  await mixed.storage.upload("pub-private/ok.txt", Buffer.from("w"));
  await assert.rejects(mixed.storage.upload("pub/no.txt", Buffer.from("w")), /read-only/);
  const all = await ts.client(room, "all", { api: { storage: { paths: [{ path: "/", read_only: true }] } } });
  assert.deepEqual((await all.storage.list("")).map((e: any) => e.name), [".schemas", "pub", "pub-private", "public-keys.txt"]);
});

test("item 3: services.restart needs admin.config; every built-in tool's grant is in the README table", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const user = await ts.client("restart", "user"); // default user scope: services {} but no admin
  await assert.rejects(
    user.invoke({ toolkit: "services", tool: "restart", input: { service_id: "x" } }),
    /permission denied: token's api grant does not include "admin"/,
  );
  // services.list stays allowed with the default scope.
  assert.ok(await user.invoke({ toolkit: "services", tool: "list", input: {} }));
  const noConfig = await ts.client("restart", "no-config", { api: { ...defaultApiScope("user"), admin: { config: false } } });
  await assert.rejects(noConfig.invoke({ toolkit: "services", tool: "restart", input: { service_id: "x" } }), /does not allow "config"/);
  const admin = await ts.client("restart", "admin", { api: { ...defaultApiScope("user"), admin: {} } });
  // Past the grant: the launcher answers (no such service), not a permission error.
  await assert.rejects(admin.invoke({ toolkit: "services", tool: "restart", input: { service_id: "x" } }), (err: any) => !/permission denied/.test(err.message));

  // The README table lists exactly the grants the dispatcher checks.
  const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
  const rows = new Map<string, string>();
  for (const m of readme.matchAll(/^\| `([a-z_]+\.[a-z_]+)` \| `([a-z_.]+)` \|/gm)) rows.set(m[1]!, m[2]!);
  const services = servicesToolkit({} as never);
  const { sync, queues } = ts.server.dispatcher.builtinsByName();
  for (const tk of [storageToolkit, messagingToolkit, developerToolkit, services, sync!, queues!]) {
    for (const tool of Object.keys(tk.tools)) {
      // The grant the dispatcher checks: the tool's declared one, else the toolkit's surface.
      const g: { surface: string; flag?: string } = (tk.tools[tool] as any).grant ?? { surface: tk.grant };
      assert.equal(rows.get(`${tk.name}.${tool}`), g.flag === undefined ? g.surface : `${g.surface}.${g.flag}`, `README grants table row for ${tk.name}.${tool}`);
    }
  }
});

async function healthRooms(url: string): Promise<number> {
  return ((await (await fetch(`${url}/healthz`)).json()) as { rooms: number }).rooms;
}

test("item 5: refused handshakes create no rooms (service token of an ended session, room full)", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  assert.equal(await healthRooms(ts.url), 0);
  for (let i = 0; i < 100; i++) {
    const room = `gone-${i}`;
    const token = await mintParticipantToken(ts.secret, { room, identity: "svc", role: "agent", ttlSeconds: 600, service: { sessionId: "ended-session", serviceId: "s" } });
    const r = await refusedHandshake(`${ts.wsUrl}/rooms/${room}?token=${token}`);
    assert.equal(r.statusCode, 403);
  }
  assert.equal(await healthRooms(ts.url), 0, "no room left behind by 100 refused service handshakes");

  const full = await startTestServer({ limits: { maxConnectionsPerRoom: 0 } });
  t.after(() => full.close());
  for (let i = 0; i < 20; i++) {
    const r = await refusedHandshake(`${full.wsUrl}/rooms/full-${i}?token=${await full.token(`full-${i}`, "u")}`);
    assert.equal(r.statusCode, 503);
  }
  assert.equal(await healthRooms(full.url), 0, "no room left behind by refused room-full handshakes");
});

test("item 6: secret create and rename share validation; a duplicate is a 409 with a clear message", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const token = await mintParticipantToken(ts.secret, { room: "*", identity: "admin", role: "user", api: { admin: {} } as never, ttlSeconds: 600 });
  const base = `${ts.url}/accounts/projects/default`;
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text === "" ? {} : JSON.parse(text) };
  };
  const data = Buffer.from("v").toString("base64");
  for (const scope of ["", "/rooms/lobby"]) {
    const a = await call("POST", `${scope}/secrets`, { name: "alpha", type: "opaque", data_base64: data });
    assert.equal(a.status, 201);
    const b = await call("POST", `${scope}/secrets`, { name: "beta", type: "opaque", data_base64: data });
    assert.equal(b.status, 201);
    for (const bad of ["../x y", "a/b", "..", ""]) {
      const created = await call("POST", `${scope}/secrets`, { name: bad, type: "opaque", data_base64: data });
      const renamed = await call("PUT", `${scope}/secrets/${b.body.id}`, { name: bad });
      assert.equal(created.status, 400, `create ${bad}`);
      assert.equal(renamed.status, 400, `rename to ${JSON.stringify(bad)}: ${JSON.stringify(renamed.body)}`);
      if (bad !== "") assert.match(renamed.body.error, /name: .* is invalid/);
    }
    const badType = await call("PUT", `${scope}/secrets/${b.body.id}`, { type: "no spaces allowed" });
    assert.equal(badType.status, 400);
    const dupRename = await call("PUT", `${scope}/secrets/${b.body.id}`, { name: "alpha" });
    assert.equal(dupRename.status, 409);
    assert.match(dupRename.body.error, /a secret named "alpha" already exists/);
    assert.doesNotMatch(dupRename.body.error, /SQLITE|constraint/i);
    const dupCreate = await call("POST", `${scope}/secrets`, { name: "alpha", type: "opaque", data_base64: data });
    assert.equal(dupCreate.status, 409);
    assert.match(dupCreate.body.error, /already exists/);
    // Renaming to its own name or a free one works.
    assert.equal((await call("PUT", `${scope}/secrets/${b.body.id}`, { name: "beta" })).status, 200);
    assert.equal((await call("PUT", `${scope}/secrets/${b.body.id}`, { name: "gamma" })).status, 200);
    const names = (await call("GET", `${scope}/secrets`)).body.secrets.map((s: any) => s.name);
    assert.deepEqual(names, ["alpha", "gamma"]);
  }
});

test("item 9: concurrent no-overwrite uploads (and moves) to one path: exactly one succeeds, the rest get 409", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const clients = await Promise.all(Array.from({ length: 4 }, (_, i) => ts.client("race9", `c${i}`)));
  for (let round = 0; round < 3; round++) {
    const path = `r${round}/same.txt`;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => clients[i % clients.length].storage.upload(path, Buffer.from(`writer-${i}`), { overwrite: false })),
    );
    const won = results.map((r, i) => [r, i] as const).filter(([r]) => r.status === "fulfilled");
    assert.equal(won.length, 1, `round ${round}: exactly one winner, got ${won.length}`);
    for (const r of results) if (r.status === "rejected") assert.match(String(r.reason?.message), /already exists/);
    for (const r of results) if (r.status === "rejected") assert.equal(r.reason.code, 409);
    const content = Buffer.from((await clients[0].storage.download(path)).data).toString();
    assert.equal(content, `writer-${won[0]![1]}`, "the winner's bytes survive");
  }
  assert.deepEqual(await readdir(join(ts.dataDir, "rooms", "race9", ".tmp")), [], "no temp file left");

  // The same for moves without overwrite: files and folders racing for one name.
  for (const kind of ["file", "folder"] as const) {
    const sources = Array.from({ length: 12 }, (_, i) => (kind === "file" ? `src-${kind}/${i}.txt` : `src-${kind}/${i}/inner.txt`));
    for (const [i, p] of sources.entries()) await clients[0].storage.upload(p, Buffer.from(`source-${i}`));
    const from = sources.map((p) => (kind === "file" ? p : p.replace(/\/inner\.txt$/, "")));
    const results = await Promise.allSettled(from.map((p, i) => clients[i % clients.length].storage.move(p, `moved-${kind}`, { overwrite: false })));
    const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    assert.equal(won.length, 1, `${kind} moves: exactly one winner, got ${won.length}`);
    for (const r of results) if (r.status === "rejected") assert.equal(r.reason.code, 409, String(r.reason?.message));
    const dest = kind === "file" ? `moved-${kind}` : `moved-${kind}/inner.txt`;
    assert.equal(Buffer.from((await clients[0].storage.download(dest)).data).toString(), `source-${won[0]}`);
    assert.equal((await clients[0].storage.list(`src-${kind}`)).length, sources.length - 1, "the losers stay where they were");
  }
});

test("item 10: non-Latin-1 names round-trip byte-exact (SDK and /data alike); download_url uses RFC 6266 encoding", async (t) => {
  const ts = await startTestServer();
  t.after(() => ts.close());
  const alice = await ts.client("names", "alice");
  const nfd = "cafe\u0301.txt"; // NFD: e + combining acute
  const nfc = nfd.normalize("NFC");
  const emoji = "📄 notes 😀 \"q\".txt";
  assert.notEqual(nfd, nfc);
  await alice.storage.upload(nfd, Buffer.from("nfd bytes"));
  await alice.storage.upload(emoji, Buffer.from("emoji bytes"));
  const storageRoot = join(ts.dataDir, "rooms", "names", "storage");
  // /data view: the exact bytes given, no normalization.
  // (`.schemas/` is seeded by every session: the chat thread schema, docs/chat.md.)
  const onDisk = (await readdir(storageRoot, { encoding: "buffer" })).map((b) => b.toString("hex")).filter((h) => h !== Buffer.from(".schemas").toString("hex")).sort();
  assert.deepEqual(onDisk, [Buffer.from(nfd).toString("hex"), Buffer.from(emoji).toString("hex")].sort());
  // A file a service writes under /data in NFC is a different name from the NFD one.
  await writeFile(join(storageRoot, nfc), "nfc from a service");
  const listed = (await alice.storage.list("")).map((e: any) => e.name).filter((n: string) => n !== ".schemas").sort();
  assert.deepEqual(listed, [nfd, nfc, emoji].sort());
  assert.equal(Buffer.from((await alice.storage.download(nfc)).data).toString(), "nfc from a service");
  assert.equal(Buffer.from((await alice.storage.download(nfd)).data).toString(), "nfd bytes");
  await mkdir(join(storageRoot, "dir"));
  for (const [name, body] of [[nfd, "nfd bytes"], [emoji, "emoji bytes"], [nfc, "nfc from a service"]] as const) {
    const url = await alice.storage.downloadUrl(name);
    const r = await fetch(url);
    assert.equal(r.status, 200, `download_url of ${name}`);
    assert.equal(await r.text(), body);
    const cd = r.headers.get("content-disposition")!;
    const star = /filename\*=UTF-8''([^;]+)/.exec(cd);
    assert.ok(star, cd);
    assert.equal(decodeURIComponent(star[1]!), name, "filename* decodes to the exact name");
    assert.match(cd, /^attachment; filename="[\x20-\x7e]*";/, "ASCII fallback");
  }
  // Lone surrogates have no UTF-8 form: refused, not silently replaced.
  await assert.rejects(alice.storage.upload("bad\ud83d.txt", Buffer.from("x")), /lone UTF-16 surrogate/);
  assert.equal(await readFile(join(storageRoot, nfd), "utf8"), "nfd bytes");
});
