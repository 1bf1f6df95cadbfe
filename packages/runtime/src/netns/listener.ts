/**
 * Listening inside a room's network namespace without a proxy: a child entered into the
 * namespace with nsenter opens the socket and passes its handle back over IPC. The socket
 * stays bound to the room's namespace after the child exits, so the server's accepted
 * connections come straight from services' 127.0.0.1. Needs root (CAP_SYS_ADMIN) for setns.
 */
import { spawn } from "node:child_process";
import type { Server } from "node:net";
import { fileURLToPath } from "node:url";
import type { HelperSpawnLimit } from "./spawn-limit.ts";

const CHILD = fileURLToPath(new URL("./listen-child.js", import.meta.url));

/**
 * How long a namespace helper may take to start (spawn until ready / socket handed over), in
 * ms, counted from when its HelperSpawnLimit slot is granted. Also bounds how long a hung
 * helper can hold a slot.
 */
export const HELPER_START_TIMEOUT_MS = 10_000;

export class NetnsError extends Error {
  override name = "NetnsError";
}

/**
 * A listening socket on `host`:`port` inside the namespace at `netnsPath`. The helper starts
 * once `spawns` grants a slot, and `timeoutMs` counts from then (a request waiting for a slot
 * is bounded by the limit's own queue timeout). Rejects with NetnsError.
 */
export function openListenerInNetns(spawns: HelperSpawnLimit, netnsPath: string, host = "127.0.0.1", port = 8078, timeoutMs = HELPER_START_TIMEOUT_MS): Promise<Server> {
  return spawns.run(`Room API listener on ${host}:${port}`, () => spawnListener(netnsPath, host, port, timeoutMs));
}

function spawnListener(netnsPath: string, host: string, port: number, timeoutMs: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn("nsenter", [`--net=${netnsPath}`, "--", process.execPath, CHILD, host, String(port)], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    let stderr = "";
    let settled = false;
    child.stderr!.on("data", (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString("utf8");
    });
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      reject(new NetnsError(`cannot listen on ${host}:${port} in ${netnsPath}: ${why}${stderr.trim() ? ` (${stderr.trim()})` : ""}. ` +
        "Entering a namespace needs root or CAP_SYS_ADMIN, nsenter (util-linux), and a live sandbox."));
    };
    const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);
    child.on("error", (err) => fail(err.message));
    child.on("exit", (code, signal) => {
      // The child exits by itself right after handing over the socket, and its exit can be
      // seen before the IPC message that carries the socket: give a clean exit a moment.
      if (settled) return;
      if (code === 0) setTimeout(() => fail("helper exited without handing over the socket"), 1000).unref();
      else fail(`helper exited (${signal ?? code}) before handing over the socket`);
    });
    child.on("message", (msg: { ok: boolean; error?: string }, handle: unknown) => {
      if (settled) {
        // Too late (timed out): a socket nobody will use must not stay open — it would keep
        // the room's namespace (and this process) alive.
        (handle as Server | undefined)?.close?.();
        return;
      }
      if (!msg.ok || handle === undefined) return fail(msg.error ?? "no socket handle received");
      settled = true;
      clearTimeout(timer);
      // Node turns a passed server handle into a listening net.Server on our side.
      resolve(handle as Server);
    });
  });
}

/** The Room API port inside a room (MeshAgent's in-room API port). */
export const ROOM_API_PORT = 8078;

/**
 * The Room API endpoint of a namespace-based runtime (docker, sandbox): a listener on
 * 127.0.0.1:8078 inside the room's namespace, whose accepted sockets go to `onSocket`.
 */
export async function roomApiFromListener(listening: Promise<Server>, onSocket: (s: import("node:net").Socket) => void): Promise<import("../types.ts").RoomApiEndpoint> {
  const server = await listening;
  server.on("connection", onSocket);
  let closed = false;
  return {
    url: `ws://127.0.0.1:${ROOM_API_PORT}`,
    close: () => {
      if (closed) return;
      closed = true;
      server.close();
    },
  };
}
