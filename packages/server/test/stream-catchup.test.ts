/**
 * A room-stream client that falls behind is dropped at its bound (the server's memory stays
 * bounded), and when it resumes with Last-Event-ID after messages the room no longer keeps, it
 * is caught up from the session's kept log files: every line arrives, once, in order (checked
 * by each line's `line_no`), paced by its socket, then a fresh snapshot, then live lines.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServicesServer, manifest, IMAGES, waitUntil } from "./services-env.ts";
import { openSse } from "./sse-client.ts";

const node = (code: string) => `/usr/local/bin/node -e ${JSON.stringify(code)}`;

/**
 * Reads the stream until `stopAfter` log lines were parsed, then stops reading (the response
 * is paused: the server's queue for it grows until it is dropped). Resolves with the id and
 * line_no of the last line parsed, once the server has cut the connection.
 */
function readThenStall(url: string, stopAfter: number, dropped: () => boolean): Promise<{ lastId: number; lastLineNo: number }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { accept: "text/event-stream" } }, (res) => {
      let buf = "";
      let seen = 0;
      let last = { lastId: -1, lastLineNo: -1 };
      let stalled = false;
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (stalled) return;
        buf += chunk;
        let i: number;
        while (!stalled && (i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!block.includes("event: log")) continue;
          const id = Number(/^id: (\d+)$/m.exec(block)![1]);
          const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
          last = { lastId: id, lastLineNo: data.line_no };
          if (++seen >= stopAfter) {
            stalled = true;
            res.pause();
            // Once the server has dropped us, read (and ignore) what is still on the way,
            // as a browser does, so the connection's end is seen.
            const poll = setInterval(() => {
              if (!dropped()) return;
              clearInterval(poll);
              res.resume();
            }, 50);
          }
        }
      });
      res.on("close", () => resolve(last));
      res.on("error", () => resolve(last));
    }).on("error", reject);
  });
}

test("a dropped stream client resumes with Last-Event-ID and is caught up from the kept logs: every line once, in order, memory bounded", { timeout: 240_000 }, async (t) => {
  const limit = 256 * 1024;
  const env = await startServicesServer({
    departureTimeoutMs: 500,
    // A small resume buffer, so the lines the stalled client missed are long gone from memory.
    server: { streamLimits: { maxSseBufferedBytes: limit, heartbeatMs: 1000 }, activityLimits: { resumeMessages: 200, resumeBytes: 64 * 1024 } },
  });
  t.after(() => env.close());
  const ts = env.ts;
  // Numbered lines of ~500 bytes, fast (up to 10,000 lines/s), from when the file "go" exists
  // until the file "stop" does; then "end".
  const flood = await env.addService("catchup", manifest("flood", IMAGES.http, {
    container: {
      image: IMAGES.http,
      command: node(`const fs=require('fs');const pad='x'.repeat(480);let n=0;const t=setInterval(()=>{if(!fs.existsSync('/data/go'))return;if(fs.existsSync('/data/stop')){clearInterval(t);console.log('end');setInterval(()=>{},1e9);return}for(let k=0;k<100;k++)console.log('n '+(++n)+' '+pad)},10)`),
    },
  }));
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const streamUrl = `${ts.url}/accounts/projects/default/rooms/catchup/stream?token=${key}`;
  const alice = await ts.client("catchup", "alice");
  const first = await openSse(streamUrl);
  await first.waitFor((e) => e.event === "service" && e.data.service_id === flood && e.data.state === "ready", 60_000, "flood running");
  first.close();

  // A client reads 500 lines, then stops reading while the flood goes on: once the socket's
  // buffers are full, its queue reaches the bound and it is dropped.
  let peak = 0;
  const stalled = readThenStall(streamUrl, 500, () => {
    const c = [...ts.server.streams][0] as unknown as { peakBufferedBytes: number; state: { kind: string } } | undefined;
    if (c !== undefined) peak = Math.max(peak, c.peakBufferedBytes);
    return c === undefined || c.state.kind === "dropped";
  });
  await alice.storage.upload("go", new TextEncoder().encode("go"));
  const { lastId, lastLineNo } = await stalled;
  assert.ok(peak > 0 && peak <= limit, `the stalled client's queue stayed within the bound (peak ${peak} bytes)`);
  assert.ok(lastLineNo >= 500 - 2, `the stalled client read up to line ${lastLineNo}`);
  await alice.storage.upload("stop", new TextEncoder().encode("stop"));

  // It resumes after the last line it read: everything after it comes, once and in order.
  const resumed = await openSse(streamUrl.replace("?token=", `?last_event_id=${lastId}&token=`));
  const end = await resumed.waitFor((e) => e.event === "log" && e.data.text === "end", 120_000, "the last line");
  const total = end.data.line_no as number;
  assert.ok(total > lastLineNo + 1000, `the client missed more than the room keeps (${total - lastLineNo} lines)`);
  t.diagnostic(`caught up ${total - lastLineNo} lines`);
  const lines = resumed.events.filter((e) => e.event === "log" && e.data.service_id === flood);
  const numbers = lines.map((e) => e.data.line_no as number);
  const expected = Array.from({ length: total - lastLineNo }, (_, i) => lastLineNo + 1 + i);
  assert.equal(numbers.length, expected.length, `lines after ${lastLineNo}: got ${numbers.length}, expected ${expected.length}`);
  assert.deepEqual(numbers, expected, "every line after the resume point, once, in order");
  for (const e of lines.slice(0, -1)) assert.match(e.data.text, new RegExp(`^n ${e.data.line_no} x+$`));
  const ids = resumed.events.filter((e) => e.event === "log").map((e) => e.id!);
  assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), "ids increase");
  // Caught up: a fresh snapshot follows the kept lines (service states missed meanwhile).
  const snapshots = resumed.events.filter((e) => e.event === "snapshot");
  assert.ok(snapshots.length >= 2, "a snapshot on connect and one after catching up");
  // The server's queue for each client stayed within its bound throughout.
  for (const c of ts.server.streams) assert.ok((c as unknown as { peakBufferedBytes: number }).peakBufferedBytes <= limit);
  resumed.close();
  await waitUntil("the stream closed", () => ts.server.streams.size === 0, 10_000);
});

test("a client resuming after its session ended is caught up and attached (the catch-up ends when the files have nothing newer)", { timeout: 120_000 }, async (t) => {
  const env = await startServicesServer({
    departureTimeoutMs: 200,
    server: { streamLimits: { heartbeatMs: 1000 }, activityLimits: { resumeMessages: 50, resumeBytes: 64 * 1024 } },
  });
  t.after(() => env.close());
  const ts = env.ts;
  // 300 numbered lines, more than the room keeps for resume, then quiet.
  const svc = await env.addService("ended", manifest("talker", IMAGES.http, {
    container: { image: IMAGES.http, command: node(`for(let n=1;n<=300;n++)console.log('n '+n);setInterval(()=>{},1e9)`) },
  }));
  const key = (await ts.server.apiKeys.create("default", "k", Date.now())).key;
  const streamUrl = `${ts.url}/accounts/projects/default/rooms/ended/stream?token=${key}`;
  // A second tab that stays open keeps the room's feed (and its emptied resume buffer) alive.
  const keeper = await openSse(streamUrl);
  t.after(() => keeper.close());
  const alice = await ts.client("ended", "alice");
  const line = (n: number) => keeper.waitFor((e) => e.event === "log" && e.data.service_id === svc && e.data.text === `n ${n}`, 60_000, `line ${n}`);
  const early = await line(10);
  await line(300);
  alice.dispose();
  await keeper.waitFor((e) => e.event === "service" && e.data.service_id === svc && e.data.state === "stopped", 60_000, "service stopped");
  // The session's buffers are released (its resume buffer emptied); the keeper holds the feed.
  await waitUntil("the session released", () => ts.server.activity.held.sessions === 0 || null, 60_000);
  assert.equal(ts.server.activity.held.feeds, 1);

  // Everything after line 10 comes from the kept files, then a fresh snapshot: the client is
  // attached (before the fix the catch-up looped for as long as the client stayed connected).
  const resumed = await openSse(streamUrl.replace("?token=", `?last_event_id=${early.id}&token=`));
  t.after(() => resumed.close());
  await resumed.waitFor((e) => e.event === "snapshot" && resumed.events.filter((x) => x.event === "snapshot").length >= 2, 60_000, "a snapshot after the kept lines");
  const secondSnapshot = resumed.events.findIndex((e, i) => e.event === "snapshot" && i > 0);
  assert.ok(resumed.events.findIndex((e) => e.event === "log" && e.data.text === "n 300") < secondSnapshot, "the kept lines came before the snapshot");
  const numbers = resumed.events.filter((e) => e.event === "log" && e.data.service_id === svc).map((e) => Number(String(e.data.text).slice(2)));
  assert.deepEqual(numbers, Array.from({ length: 290 }, (_, i) => 11 + i), "lines 11–300, once, in order");
});
