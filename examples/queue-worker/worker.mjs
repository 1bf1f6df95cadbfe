// A worker service: receives jobs from a room queue (waiting when it is empty) and, when a
// job says `done`, uploads the list of job numbers it received, in arrival order, to room
// storage (`queue-worker/<queue>.json`) for whoever wants to check them.
import { createRequire } from "node:module";
const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");

const queue = process.env.QUEUE ?? "jobs";
const room = new RoomClient();
await room.start();
room.messaging.enable(); // so participants can see the worker is here
console.log("queue-worker receiving from", queue);
let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
  room.dispose();
  process.exit(0);
});
const received = [];
while (!stopping) {
  const job = await room.queues.receive(queue, { create: true, wait: true });
  if (job === null) continue;
  if (job.done) {
    await room.storage.upload(`queue-worker/${queue}.json`, new TextEncoder().encode(JSON.stringify(received)), { overwrite: true });
    received.length = 0;
  } else received.push(job.n);
}
