// The Room API sidecar of a room's Pod (kube runtime), plain Node, no dependencies.
// - Room API: listens on 127.0.0.1:8078 — the Pod's shared localhost, where the room's
//   services expect it — and relays every connection to the owning Roomservice node: dials
//   RS_GATEWAY_NODE (tcp://host:port or unix:///path), sends "RSGW1 <key>\n", waits for
//   "OK\n", then copies bytes both ways (pipe() keeps backpressure).
// - Connections the node opens into the room (the MCP bridge): a control connection
//   ("RSGW1 <key> control\n") on which the node sends "CONNECT <id> <port>\n"; the sidecar
//   connects to 127.0.0.1:<port> and dials the node with "RSGW1 <key> data <id>\n", or
//   answers "FAIL <id> <reason>\n" on the control connection.
import fs from "node:fs";
import net from "node:net";

const key = fs.readFileSync(process.env.RS_GATEWAY_KEY_FILE ?? "/run/roomservice-gateway/key", "utf8").trim();
const node = new URL(process.env.RS_GATEWAY_NODE ?? "");
const dial = () => (node.protocol === "unix:" ? net.connect(node.pathname) : net.connect(Number(node.port), node.hostname));
const HELLO_TIMEOUT_MS = 10_000;

/** Dials the node, says hello, calls back with the socket once it answered OK (or null). */
function hello(line, cb) {
  const up = dial();
  let ack = Buffer.alloc(0);
  let done = false;
  const finish = (sock) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    up.removeListener("data", onAck);
    if (sock === null) up.destroy();
    cb(sock);
  };
  const timer = setTimeout(() => finish(null), HELLO_TIMEOUT_MS);
  const onAck = (c) => {
    ack = Buffer.concat([ack, c]);
    if (ack.length < 3) return;
    if (ack.subarray(0, 3).toString("latin1") !== "OK\n") {
      console.error(`node refused the gateway: ${JSON.stringify(ack.subarray(0, 80).toString("latin1"))}`);
      return finish(null);
    }
    // The node may write right after its OK (a request it opened): keep those bytes.
    up.pause();
    if (ack.length > 3) up.unshift(ack.subarray(3));
    finish(up);
  };
  up.on("connect", () => up.write(`RSGW1 ${key}${line}\n`));
  up.on("data", onAck);
  up.on("error", () => finish(null));
  up.on("close", () => finish(null));
}

function splice(a, b) {
  const done = () => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.on("error", done);
    s.on("close", done);
  }
  a.pipe(b);
  b.pipe(a);
  a.resume();
  b.resume();
}

net.createServer((client) => {
  client.pause();
  client.on("error", () => client.destroy());
  hello("", (up) => {
    if (up === null) return client.destroy();
    splice(client, up);
    client.resume();
  });
}).listen(8078, "127.0.0.1", () => console.log(`gateway: 127.0.0.1:8078 -> ${node.protocol}//${node.host}${node.pathname}`));

let retryMs = 200;
function control() {
  hello(" control", (ctl) => {
    if (ctl === null) {
      setTimeout(control, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
      return;
    }
    retryMs = 200;
    let buf = "";
    ctl.on("data", (c) => {
      buf += c.toString("latin1");
      if (buf.length > 4096) return ctl.destroy();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const [verb, id, port] = buf.slice(0, nl).split(" ");
        buf = buf.slice(nl + 1);
        if (verb !== "CONNECT" || !/^\d+$/.test(id ?? "") || !/^\d+$/.test(port ?? "")) continue;
        const local = net.connect(Number(port), "127.0.0.1");
        local.once("error", (e) => ctl.write(`FAIL ${id} ${e.code ?? e.message}\n`));
        local.once("connect", () => {
          local.pause();
          hello(` data ${id}`, (up) => {
            if (up === null) return local.destroy();
            splice(local, up);
            local.resume();
          });
        });
      }
    });
    ctl.on("error", () => ctl.destroy());
    ctl.on("close", () => setTimeout(control, retryMs));
    ctl.resume();
  });
}
control();

process.on("SIGTERM", () => process.exit(0));
