import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { sdk, settle } from "./helpers.ts";
import { spawnServer, waitExit } from "./process.ts";
import { mintParticipantToken } from "../src/index.ts";
import { DatabaseSync } from "node:sqlite";

const SECRET = "crash-test-secret-0123456789";

async function connect(url: string, room: string) {
  const token = await mintParticipantToken(SECRET, { room, identity: "uploader", role: "user", ttlSeconds: 600 });
  const client = new sdk.RoomClient({
    protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${url.replace(/^http/, "ws")}/rooms/${room}`, token }),
    reconnectTimeout: 0,
  });
  await client.start();
  return client;
}

test("SIGKILL mid-upload leaves no partial file after restart; earlier files and session history survive", async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-crash-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const env = { MESHAGENT_SECRET: SECRET };

  const first = await spawnServer(dataDir, env);
  t.after(() => first.child.kill("SIGKILL"));
  const client = await connect(first.url, "crashy");
  await client.storage.upload("keep.txt", Buffer.from("committed before the crash"));

  // Stream an upload that never finishes on its own: after ~2 MB has been sent, kill the server.
  let sent = 0;
  let killed = false;
  async function* slowSource() {
    for (;;) {
      const chunk = randomBytes(256 * 1024);
      sent += chunk.length;
      if (sent > 2 * 1024 * 1024 && !killed) {
        killed = true;
        first.child.kill("SIGKILL");
      }
      yield chunk;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  await assert.rejects(client.storage.uploadStream("partial.bin", slowSource(), { size: 100 * 1024 * 1024 }));
  await waitExit(first.child);
  assert.ok(killed, "server was killed mid-upload");
  await settle(client);
  client.dispose();

  // The incomplete upload exists only as a temp file until the next start.
  const tmpDir = join(dataDir, "rooms", "crashy", ".tmp");
  assert.ok(existsSync(tmpDir) && (await readdir(tmpDir)).length > 0, "the crash left a temp file behind");
  assert.ok(!existsSync(join(dataDir, "rooms", "crashy", "storage", "partial.bin")), "never a partial file under the target name");

  const second = await spawnServer(dataDir, env);
  t.after(() => second.child.kill("SIGKILL"));
  assert.ok(!existsSync(tmpDir) || (await readdir(tmpDir)).length === 0, "temp files discarded at start-up");
  const again = await connect(second.url, "crashy");
  t.after(async () => {
    await settle(again);
    again.dispose();
  });
  assert.equal(await again.storage.exists("partial.bin"), false);
  assert.equal(Buffer.from((await again.storage.download("keep.txt")).data).toString(), "committed before the crash");
  const names = (await again.storage.list("")).map((e: any) => e.name);
  assert.deepEqual(names, [".schemas", "keep.txt"], "the seeded thread schema folder and the committed file, nothing partial");

  // The session the crash interrupted is recorded as ended by the restart.
  const db = new DatabaseSync(join(dataDir, "roomservice.db"), { readOnly: true });
  const rows = db.prepare("SELECT end_reason, participants FROM sessions WHERE room = 'crashy' ORDER BY started_at").all() as any[];
  db.close();
  assert.equal(rows.length, 2);
  assert.equal(rows[0].end_reason, "server_restart");
  assert.deepEqual(JSON.parse(rows[0].participants), ["uploader"]);
  assert.equal(rows[1].end_reason, null, "the current session is still open");
});
