// The room-start benchmark's service (bench/figures/rooms.ts): loads the @meshagent/meshagent
// SDK, listens on $PORT and prints "listening"; inside a room (MESHAGENT_TOKEN set) it then
// joins the room and broadcasts one "bench.ready" message. The baselines run the same image
// without a token: load, listen, print — and nothing else.
// The message carries what a session gave this container (session id, a hash of its token,
// what it found in /tmp), so a benchmark or test can check that a container never carries
// another session's values.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import http from "node:http";

const sdk = createRequire(import.meta.url)("@meshagent/meshagent");
const port = Number(process.env.PORT ?? 8080);
const token = process.env.MESHAGENT_TOKEN;
const tmpBefore = (() => { try { return readdirSync("/tmp"); } catch { return []; } })();

const server = http.createServer((req, res) => res.end("ok"));
server.listen(port, "127.0.0.1", async () => {
  console.log(`listening on ${port}`);
  if (!token) return;
  // Marks this container's /tmp: a later session must never find it.
  try { writeFileSync(`/tmp/used-by-${process.env.MESHAGENT_SESSION_ID}`, "x"); } catch {}
  const room = new sdk.RoomClient();
  await room.start();
  room.messaging.enable();
  await room.messaging.broadcastMessage({
    type: "bench.ready",
    message: {
      port,
      session: process.env.MESHAGENT_SESSION_ID ?? null,
      tokenSha256: createHash("sha256").update(token).digest("hex"),
      tmp: tmpBefore,
    },
  });
});
process.on("SIGTERM", () => process.exit(0));
