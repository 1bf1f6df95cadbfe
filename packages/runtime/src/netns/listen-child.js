// Runs inside a room's network namespace (spawned via nsenter by listener.ts). Opens the
// listening socket there and hands it to the parent over IPC, then exits: the parent keeps
// the only descriptor, so nothing is left running in the namespace.
// Plain JavaScript (not .ts) so that it starts without type stripping: it is on the room's
// critical path.
import net from "node:net";

const [host, port] = process.argv.slice(2);
const server = net.createServer();
const done = (code) => {
  server.close();
  process.disconnect?.();
  process.exitCode = code;
};
server.on("error", (err) => process.send({ ok: false, error: `${err.code ?? ""} ${err.message}`.trim() }, () => done(1)));
server.listen({ host, port: Number(port) }, () => {
  process.send({ ok: true, address: server.address() }, server, () => done(0));
});
