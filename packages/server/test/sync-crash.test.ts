import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Y from "yjs";
import { sdk, eventually } from "./helpers.ts";
import { spawnServer, waitExit } from "./process.ts";
import { mintParticipantToken } from "../src/index.ts";
import { DEFAULT_SYNC_LIMITS } from "../src/toolkits/sync/index.ts";
import { yTreeJson } from "./sync-helpers.ts";
import { quietDocumentChangeLog } from "@roomservice/agent-kit";

const SECRET = "sync-crash-secret-0123456789";
// The SDK prints every document change with console.log (agent-kit's filter, as the example agents use it).
quietDocumentChangeLog();

async function connect(url: string, room: string, identity: string) {
  const token = await mintParticipantToken(SECRET, { room, identity, role: "user", ttlSeconds: 600 });
  const client = new sdk.RoomClient({
    protocolFactory: sdk.WebSocketClientProtocol.createFactory({ url: `${url.replace(/^http/, "ws")}/rooms/${room}`, token }),
    reconnectTimeout: 0,
  });
  await client.start();
  return client;
}

function messageIds(root: any): string[] {
  const messages = root.getChildren().find((c: any) => c.tagName === "messages");
  return messages.getChildren().map((m: any) => m.getAttribute("id"));
}

test("SIGKILL during edits: the document reopens uncorrupted and holds every edit older than the debounce window", { timeout: 90_000 }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), "rs-sync-crash-"));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const env = { MESHAGENT_SECRET: SECRET };
  const path = ".threads/crash.thread";

  const first = await spawnServer(dataDir, env);
  t.after(() => first.child.kill("SIGKILL"));
  const writer = await connect(first.url, "crashdoc", "writer");
  const observer = await connect(first.url, "crashdoc", "observer");
  await eventually(() => writer.storage.exists(".schemas/thread.json"), 5000, "the seeded schema");
  const dw = await writer.sync.open(path);
  const dob = await observer.sync.open(path);

  // The observer records when each message reached it: by then the server had applied it.
  const seenAt = new Map<string, number>();
  dob.listen(() => {
    for (const id of messageIds(dob.root)) if (!seenAt.has(id)) seenAt.set(id, Date.now());
  });
  const messages = dw.root.getChildren().find((c: any) => c.tagName === "messages");
  let i = 0;
  let killedAt = 0;
  while (killedAt === 0) {
    messages.createChildElement("message", { id: `m${i}`, text: `edit ${i}`, created_at: new Date().toISOString(), author_name: "writer", author_ref: null });
    i++;
    await new Promise((r) => setTimeout(r, 3));
    if (i === 600) {
      killedAt = Date.now();
      first.child.kill("SIGKILL");
    }
  }
  await waitExit(first.child);
  for (const c of [writer, observer]) {
    try {
      c.dispose();
    } catch {
      // the socket is already gone
    }
  }

  // The file on disk is a complete Yjs update (never torn), whatever moment the kill hit.
  const file = await readFile(join(dataDir, "rooms", "crashdoc", "storage", path));
  const onDisk = new Y.Doc();
  Y.applyUpdate(onDisk, file);
  assert.equal(onDisk.store.pendingStructs, null, "no missing parts in the stored state");

  const second = await spawnServer(dataDir, env);
  t.after(() => second.child.kill("SIGKILL"));
  const reader = await connect(second.url, "crashdoc", "reader");
  const dr = await reader.sync.open(path);
  const kept = new Set(messageIds(dr.root));
  const diskIds = ((yTreeJson(onDisk, "thread") as any).children[1].children as any[]).map((m) => m.attrs.id);
  assert.deepEqual([...kept], diskIds, "the reopened document is the file's state");
  // Generous slack over the debounce window for the write itself on a busy machine.
  const horizon = killedAt - DEFAULT_SYNC_LIMITS.persistDebounceMs - 750;
  const mustHave = [...seenAt].filter(([, at]) => at < horizon).map(([id]) => id);
  assert.ok(mustHave.length > 100, `enough edits were old enough to be written (${mustHave.length})`);
  const missing = mustHave.filter((id) => !kept.has(id));
  assert.deepEqual(missing, [], `every edit seen more than the debounce window before the kill survived (${kept.size} of ${i} kept)`);
  reader.dispose();
  second.child.kill("SIGTERM");
  await waitExit(second.child);
});
