// A long-lived checker inside a room's network namespace (spawned via nsenter by prober.ts):
// performs HTTP and TCP checks against the room's 127.0.0.1 on request, and opens listening
// sockets there for the parent (`{listen: {host, port}}`). One process per room
// instead of one nsenter per check, because a node start costs ~40 ms and checks run every 100 ms
// while a room comes up. Plain JavaScript so it starts without type stripping.
import http from "node:http";
import net from "node:net";

// Refused connects are the common answer while a room starts; their stacks are never read.
Error.stackTraceLimit = 0;

function check(req) {
  return new Promise((resolve) => {
    const { action, timeoutMs } = req;
    let settled = false;
    const finish = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      finish({ ok: false, error: `timed out after ${Number((timeoutMs / 1000).toFixed(3))} s` });
      conn?.destroy();
    }, timeoutMs);
    let conn;
    if (action.kind === "tcp") {
      conn = net.connect({ host: "127.0.0.1", port: action.port });
      conn.on("connect", () => {
        conn.destroy();
        finish({ ok: true });
      });
      conn.on("error", (err) => finish({ ok: false, error: `tcp 127.0.0.1:${action.port}: ${err.code ?? err.message}` }));
    } else {
      const headers = { "user-agent": "roomservice-probe" };
      for (const h of action.headers ?? []) headers[h.name] = h.value;
      const r = http.get({ host: "127.0.0.1", port: action.port, path: action.path, headers, agent: false }, (res) => {
        res.resume();
        const s = res.statusCode ?? 0;
        finish(s >= 200 && s < 400 ? { ok: true, status: s } : { ok: false, status: s, error: `GET ${action.path} returned ${s}` });
        r.destroy();
      });
      conn = r;
      r.on("error", (err) => finish({ ok: false, error: `GET 127.0.0.1:${action.port}${action.path}: ${err.code ?? err.message}` }));
    }
  });
}

// Opens a listening socket in this namespace and hands it to the parent (the room's Room API
// listener, 127.0.0.1:8078): the same helper as the probes, so a room costs one Node start-up,
// not two. The parent keeps the only descriptor once the handle is sent.
function listen(req) {
  const server = net.createServer();
  server.on("error", (err) => process.send({ id: req.id, ok: false, error: `${err.code ?? ""} ${err.message}`.trim() }));
  server.listen({ host: req.listen.host, port: req.listen.port }, () => {
    process.send({ id: req.id, ok: true }, server, () => server.close());
  });
}

process.on("message", async (req) => {
  if (req.listen !== undefined) return listen(req);
  const r = await check(req);
  if (process.connected) process.send({ id: req.id, ...r });
});
// The parent going away (or closing the channel) ends the checker: never outlive the room.
process.on("disconnect", () => process.exit(0));
process.send({ ready: true });
