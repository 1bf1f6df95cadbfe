// A long-lived connector inside a room's network namespace (spawned via nsenter by
// connector.ts): on request, opens a TCP connection to the room's 127.0.0.1:<port> and hands
// the connected socket to the parent over IPC. The parent then reads and writes it directly,
// so no bytes pass through this process. Plain JavaScript so it starts without type stripping.
import net from "node:net";

process.on("message", (req) => {
  const { id, port, timeoutMs } = req;
  let settled = false;
  const sock = net.connect({ host: "127.0.0.1", port });
  // Paused before it connects: nothing the peer sends may be read (and lost) here.
  sock.pause();
  const finish = (msg, handle) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (!process.connected) return sock.destroy();
    // keepOpen false (the default): our descriptor closes once the parent has its own.
    process.send({ id, ...msg }, handle, () => handle === undefined || sock.destroy());
  };
  const timer = setTimeout(() => {
    sock.destroy();
    finish({ ok: false, error: `connect 127.0.0.1:${port} timed out after ${timeoutMs} ms` });
  }, timeoutMs);
  sock.once("connect", () => finish({ ok: true }, sock));
  sock.once("error", (err) => finish({ ok: false, error: `connect 127.0.0.1:${port}: ${err.code ?? err.message}` }));
});
// The parent going away (or closing the channel) ends the connector: never outlive the room.
process.on("disconnect", () => process.exit(0));
process.send({ ready: true });
