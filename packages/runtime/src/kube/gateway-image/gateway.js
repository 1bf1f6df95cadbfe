// The Room API sidecar of a room's Pod (kube runtime). Listens on 127.0.0.1:8078 — the Pod's
// shared localhost, where the room's services expect the Room API — and relays every
// connection to the owning Roomservice node: it dials RS_GATEWAY_NODE (tcp://host:port or
// unix:///path), sends "RSGW1 <session key>\n", waits for "OK\n", then copies bytes both ways
// (pipe() keeps backpressure: a slow side pauses the other). Plain Node, no dependencies.
import fs from "node:fs";
import net from "node:net";

const key = fs.readFileSync(process.env.RS_GATEWAY_KEY_FILE ?? "/run/roomservice-gateway/key", "utf8").trim();
const node = new URL(process.env.RS_GATEWAY_NODE ?? "");
const dial = () => (node.protocol === "unix:" ? net.connect(node.pathname) : net.connect(Number(node.port), node.hostname));
const HELLO_TIMEOUT_MS = 10_000;

net.createServer((client) => {
  client.pause();
  const up = dial();
  const done = () => {
    client.destroy();
    up.destroy();
  };
  const timer = setTimeout(done, HELLO_TIMEOUT_MS);
  let ack = "";
  const onAck = (c) => {
    ack += c.toString("latin1");
    if (ack.length < 3) return;
    clearTimeout(timer);
    up.removeListener("data", onAck);
    if (ack !== "OK\n") {
      console.error(`node refused the gateway: ${JSON.stringify(ack.slice(0, 80))}`);
      return done();
    }
    client.pipe(up);
    up.pipe(client);
    client.resume();
  };
  up.on("connect", () => up.write(`RSGW1 ${key}\n`));
  up.on("data", onAck);
  for (const s of [client, up]) {
    s.on("error", done);
    s.on("close", done);
  }
}).listen(8078, "127.0.0.1", () => console.log(`gateway: 127.0.0.1:8078 -> ${node.protocol}//${node.host}${node.pathname}`));

process.on("SIGTERM", () => process.exit(0));
