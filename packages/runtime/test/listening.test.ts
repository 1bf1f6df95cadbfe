import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { ListeningPorts, parseListening } from "../src/docker/listening.ts";

test("parseListening keeps LISTEN sockets only, for IPv4 and IPv6 tables", () => {
  const v4 = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0",
    "   1: 0100007F:D2A4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1",
  ].join("\n");
  const v6 = [
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0",
  ].join("\n");
  assert.deepEqual([...parseListening(v4)], [8080]);
  assert.deepEqual([...parseListening(v6)], [8081]);
});

test("ListeningPorts sees a socket of its namespace start and stop listening", async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const ports = new ListeningPorts(process.pid, 0);
  assert.equal(await ports.isListening(port), true);
  await new Promise((r) => server.close(r));
  assert.equal(await ports.isListening(port), false);
  assert.equal(await new ListeningPorts(2 ** 22 + 1, 0).isListening(port), null, "an unreadable table means: ask the prober");
});
