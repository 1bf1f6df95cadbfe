// An HTTP service: answers /healthz (its liveness path) and /peer, which fetches another
// service of the same room over 127.0.0.1 to show they share a network namespace.
import http from "node:http";
import net from "node:net";

const port = Number(process.env.PORT ?? 8080);
const server = http.createServer(async (req, res) => {
  if (req.url === "/healthz") return res.end("ok");
  if (req.url?.startsWith("/tcp")) {
    const target = Number(new URL(req.url, "http://x").searchParams.get("port") ?? 9000);
    const s = net.connect(target, "127.0.0.1");
    s.on("connect", () => s.write("ping\n"));
    s.on("data", (d) => { res.end(`tcp says: ${d.toString().trim()}`); s.end(); });
    s.on("error", (e) => { res.statusCode = 502; res.end(String(e.message)); });
    return;
  }
  if (req.url === "/roomapi") {
    // The Room API answers on 127.0.0.1:8078 inside the room.
    try {
      const r = await fetch("http://127.0.0.1:8078/healthz");
      return res.end(`room api: ${r.status}`);
    } catch (e) {
      res.statusCode = 502;
      return res.end(String(e));
    }
  }
  res.end(JSON.stringify({ service: "http-echo", url: req.url, room: process.env.MESHAGENT_ROOM }));
});
server.listen(port, "0.0.0.0", () => console.log(`http-echo listening on ${port}`));
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  // A keep-alive request in flight must not hold the stop until the grace period's SIGKILL.
  setTimeout(() => process.exit(0), 2000).unref();
});
