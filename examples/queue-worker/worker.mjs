// A worker service: receives jobs from a room queue (waiting when it is empty) and, when a
// job says `done`, uploads the list of job numbers it received, in arrival order, to room
// storage (`queue-worker/<queue>.json`) for whoever wants to check them.
import { createRequire } from "node:module";
const { RoomClient } = createRequire(import.meta.url)("@meshagent/meshagent");

const queue = process.env.QUEUE ?? "jobs";
const room = new RoomClient();
let stopping = false;
// The stop handler is set before anything awaits: a stop that comes while connecting must
// still end with exit code 0 (without a handler Node dies of the SIGTERM: code 143).
process.on("SIGTERM", () => {
  stopping = true;
  try {
    room.dispose();
  } catch {
    // already closed by the server ending the session
  }
  process.exit(0);
});
await room.start();
room.messaging.enable(); // so participants can see the worker is here
console.log("queue-worker receiving from", queue);
const received = [];
while (!stopping) {
  let job;
  try {
    job = await room.queues.receive(queue, { create: true, wait: true });
  } catch (err) {
    if (stopping) break;
    // The session ended: the server closed the room connection and the stop signal follows.
    // Waiting for it keeps a normal stop at exit code 0; a connection lost for another reason
    // still ends with 1 when no signal comes.
    console.log(`queue-worker: the room connection closed (${err.message}); waiting for the stop signal`);
    await new Promise((r) => setTimeout(r, 10_000));
    process.exit(1);
  }
  if (job === null) continue;
  if (job.done) {
    await room.storage.upload(`queue-worker/${queue}.json`, new TextEncoder().encode(JSON.stringify(received)), { overwrite: true });
    received.length = 0;
  } else received.push(job.n);
}
