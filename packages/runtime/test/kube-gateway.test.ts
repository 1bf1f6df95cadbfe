/**
 * The node side of the Pod gateway (kube/gateway.ts) over real sockets: a sidecar's hello with
 * the session key gets OK and the untouched socket goes to the session's handler; wrong keys,
 * other protocols and data before the OK are closed; connections into the Pod go through the
 * control connection. (The sidecar itself runs in the podman tests.)
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import net, { type Socket } from "node:net";
import { PodGateway } from "../src/index.ts";
import { testLogger } from "./helpers.ts";

const gw = new PodGateway({ kind: "tcp", host: "127.0.0.1", port: 0 }, testLogger());
after(() => gw.close());

async function dial(): Promise<Socket> {
  const t = await gw.start();
  assert.equal(t.kind, "tcp");
  const s = net.connect((t as { port: number }).port, "127.0.0.1");
  await new Promise((r) => s.once("connect", r));
  return s;
}

/** Everything the peer sends until it closes (or `ms` passes). */
function readAll(s: Socket, ms = 3000): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const t = setTimeout(() => resolve(out), ms);
    s.on("data", (c) => (out += c.toString("latin1")));
    s.on("close", () => (clearTimeout(t), resolve(out)));
  });
}

test("a hello with the session's key: OK, then the socket reaches the handler with every later byte intact", async () => {
  const got: Socket[] = [];
  const reg = gw.register((s) => got.push(s));
  try {
    const s = await dial();
    s.write(`RSGW1 ${reg.key}\n`);
    let ack = "";
    await new Promise<void>((r) => s.on("data", function on(c) {
      ack += c.toString();
      if (ack.length >= 3) (s.off("data", on), r());
    }));
    assert.equal(ack, "OK\n");
    s.write("GET / HTTP/1.1\r\n\r\n");
    const server = await (async () => {
      for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      return got[0]!;
    })();
    const body = await new Promise<string>((r) => server.once("data", (c) => r(c.toString())));
    assert.equal(body, "GET / HTTP/1.1\r\n\r\n");
    s.destroy();
  } finally {
    reg.unregister();
  }
});

test("wrong keys, other protocols, long lines and data before the OK are closed without an OK", async () => {
  const reg = gw.register(() => assert.fail("no socket may be handed over"));
  try {
    for (const send of ["RSGW1 not-the-key\n", "GET / HTTP/1.1\r\n\r\n", "x".repeat(400), `RSGW1 ${reg.key}\nearly bytes`, `RSGW1 ${reg.key} data 99\n`]) {
      const s = await dial();
      const out = readAll(s);
      s.write(send);
      assert.equal(await out, "", `no answer to ${JSON.stringify(send.slice(0, 30))}`);
    }
  } finally {
    reg.unregister();
  }
});

test("connections into the Pod: CONNECT on the sidecar's control connection, the data socket comes back to the caller; FAIL rejects", async () => {
  const reg = gw.register(() => {});
  try {
    const pending = reg.connector.connect(9100, 5000);
    // The fake sidecar: control connection, then answers one CONNECT with a data dial-back.
    const ctl = await dial();
    ctl.write(`RSGW1 ${reg.key} control\n`);
    let buf = "";
    const line = await new Promise<string>((r) => ctl.on("data", (c) => {
      buf += c.toString();
      const m = /^OK\n(CONNECT \d+ \d+)\n/.exec(buf);
      if (m) r(m[1]!);
    }));
    const [, id, port] = line.split(" ");
    assert.equal(port, "9100");
    const data = await dial();
    data.write(`RSGW1 ${reg.key} data ${id}\n`);
    const sock = await pending;
    const ack = await new Promise<string>((r) => data.once("data", (c) => r(c.toString())));
    assert.equal(ack, "OK\n");
    sock.write("ping");
    assert.equal(await new Promise<string>((r) => data.once("data", (c) => r(c.toString()))), "ping");
    sock.destroy();
    data.destroy();

    const refused = reg.connector.connect(9555, 5000);
    const next = await new Promise<string>((r) => ctl.on("data", (c) => {
      const m = /CONNECT (\d+) 9555\n/.exec(c.toString());
      if (m) r(m[1]!);
    }));
    ctl.write(`FAIL ${next} ECONNREFUSED\n`);
    await assert.rejects(refused, /refused the connection: ECONNREFUSED/);
    ctl.destroy();
  } finally {
    reg.unregister();
  }
  await assert.rejects(reg.connector.connect(1, 100), /Pod is gone/);
});
