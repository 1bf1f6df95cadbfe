/**
 * NetnsConnector: sockets connected to 127.0.0.1 inside a room's namespace, handed back to
 * this process (the MCP bridge's way in).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { pino } from "pino";
import { NetnsConnector, openListenerInNetns } from "../src/index.ts";
import { setup, type TestEnv } from "./helpers.ts";

let env: TestEnv;
before(async () => {
  env = await setup();
});
after(async () => {
  await env.cleanup();
});

function readAll(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    s.on("data", (c: Buffer) => (out += c.toString("utf8")));
    s.on("end", () => resolve(out));
    s.on("error", reject);
  });
}

test("a socket from the connector reaches a server listening only inside the room; a refused port and a closed connector fail clearly", async () => {
  const sb = await env.runtime.createRoomSandbox({ room: "conn-room", sessionId: "s-conn" });
  // Bound inside the room's namespace: nothing on the host's 127.0.0.1:9123 answers this.
  const server = await openListenerInNetns(env.runtime.helperSpawns, sb.netnsPath, "127.0.0.1", 9123);
  server.on("connection", (sock: Socket) => sock.end(`hello from the room, you are ${sock.remoteAddress}\n`));
  const connector = new NetnsConnector(sb.netnsPath, pino({ level: "silent" }), env.runtime.helperSpawns);
  try {
    for (let i = 0; i < 3; i++) {
      const s = await connector.connect(9123);
      s.resume(); // handed over paused
      assert.equal(await readAll(s), "hello from the room, you are 127.0.0.1\n");
    }
    await assert.rejects(connector.connect(9124), /ECONNREFUSED/);
    connector.close();
    await assert.rejects(connector.connect(9123), /closed/);
  } finally {
    connector.close();
    await new Promise((r) => server.close(r));
    await sb.stop();
  }
});
