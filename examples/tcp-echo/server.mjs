// A TCP service: echoes "pong" for each line.
import net from "node:net";
const port = Number(process.env.PORT ?? 9000);
const server = net.createServer((s) => s.on("data", () => s.write("pong\n")));
server.listen(port, "0.0.0.0", () => console.log(`tcp-echo listening on ${port}`));
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  // An open connection must not hold the stop until the grace period's SIGKILL.
  setTimeout(() => process.exit(0), 2000).unref();
});
