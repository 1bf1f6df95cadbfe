/**
 * Benchmark child: a Roomservice server on 127.0.0.1, port 0, WITH a services runtime (the
 * memory and concurrent-start figures of issue 10), logging silenced. Env: RS_SECRET,
 * RS_DATA_DIR, RS_RUNTIME ("sandbox" | "docker"), RS_POOL (ready namespaces, default 2),
 * RS_OWNER (owner id of everything the runtime creates; the runner reaps it afterwards).
 *
 * Answers, besides `usage` (CPU time and memory, after GC with {gc: true}; start with
 * --expose-gc for that):
 *   addService {room|null, name, manifest}  configure a service (null room = every room)
 *   waitRunning {rooms, n, timeoutMs, allowFailed?}  until every room has n services running
 *                                           (or, with allowFailed, one failed or the timeout
 *                                           passed: -1); returns
 *                                           per-room ms from the call, measured here
 *   waitEnded {rooms, timeoutMs}            until each room's session, services and sandbox are gone
 *   waitPool                                until the pool of ready namespaces is full
 *   held                                    sizes of the per-room / per-session structures
 *   snapshot {path}                         full GCs, then a V8 heap snapshot written to path
 *                                           (bench/experiments/session-heap-diff.ts)
 */
import { writeHeapSnapshot } from "node:v8";
import { pino } from "pino";
import { createDockerRuntime, createSandboxRuntime, type Runtime } from "@roomservice/runtime";
import { startRoomServer } from "@roomservice/server";
import { serve, usage } from "../lib/rpc.ts";

const secret = process.env.RS_SECRET;
const dataDir = process.env.RS_DATA_DIR;
const ownerId = process.env.RS_OWNER;
const kind = process.env.RS_RUNTIME ?? "sandbox";
if (!secret || !dataDir || !ownerId) throw new Error("RS_SECRET, RS_DATA_DIR and RS_OWNER are required");
const poolSize = Number(process.env.RS_POOL ?? 2);
const logger = pino({ level: "silent" });

const runtime: Runtime = kind === "docker" ? await createDockerRuntime({ ownerId, logger, poolSize }) : await createSandboxRuntime({ ownerId, logger, poolSize });
const server = await startRoomServer({ host: "127.0.0.1", port: 0, dataDir, secret, logger, runtime, departureTimeoutMs: 0 });

const ended = (room: string) => server.rooms.get(room) === undefined && server.launcher.liveSession(room) === undefined;

/** Polls `done(room)` every 2 ms for each room; returns ms until each was done. */
async function until(rooms: string[], done: (room: string) => boolean | Promise<boolean>, timeoutMs: number, what: string, lenient = false): Promise<Record<string, number>> {
  const t0 = performance.now();
  const out: Record<string, number> = {};
  while (Object.keys(out).length < rooms.length) {
    for (const r of rooms) if (out[r] === undefined && (await done(r))) out[r] = performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) {
      if (lenient) return out; // the caller reports the missing rooms
      const late = rooms.filter((r) => out[r] === undefined);
      throw new Error(`${late.length} of ${rooms.length} rooms not ${what} within ${timeoutMs} ms (e.g. ${late[0]}: ${JSON.stringify((await server.launcher.list(late[0]!)).service_states.map((s) => [s.state, s.last_start_error]))})`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return out;
}

/**
 * Until each room has `n` services running, from the launcher's own events (no polling: a poll
 * of 50 rooms every few ms was CPU this child spent for the benchmark, counted as the
 * server's). With allowFailed a room is done, as -1, when one of its services fails to start,
 * or its session ends (its participant's connection was lost) before they run, or at the
 * timeout; without it the timeout rejects. Returns per-room ms from the call, measured here.
 */
function waitRunning(a: { rooms: string[]; n: number; timeoutMs: number; allowFailed?: boolean }): Promise<Record<string, number>> {
  const t0 = performance.now();
  const out: Record<string, number> = {};
  const pending = new Set(a.rooms);
  const running = new Map<string, Set<string>>(a.rooms.map((r) => [r, new Set()]));
  return new Promise((resolve, reject) => {
    const cleanup: (() => void)[] = [];
    const end = (err?: Error) => {
      for (const c of cleanup) c();
      if (err !== undefined) reject(err);
      else resolve(out);
    };
    const finish = (room: string, v: number) => {
      if (!pending.delete(room)) return;
      out[room] = v;
      if (pending.size === 0) end();
    };
    const onState = (room: string, st: { service_id: string; state: string }) => {
      if (!pending.has(room)) return;
      const set = running.get(room)!;
      if (st.state === "running") set.add(st.service_id);
      else set.delete(st.service_id);
      if (set.size >= a.n) finish(room, performance.now() - t0);
      else if (st.state === "failed" && a.allowFailed === true) finish(room, -1);
    };
    const onStarted = (e: { room: string; handle: { on(ev: "state", fn: (s: { service_id: string; state: string }) => void): void; off(ev: "state", fn: (s: { service_id: string; state: string }) => void): void; status(): { service_id: string; state: string } } }) => {
      if (!pending.has(e.room)) return;
      const fn = (st: { service_id: string; state: string }) => onState(e.room, st);
      e.handle.on("state", fn);
      cleanup.push(() => e.handle.off("state", fn));
      onState(e.room, e.handle.status());
    };
    const onFailed = (e: { room: string }) => {
      if (a.allowFailed === true) finish(e.room, -1);
    };
    const onRoom = (e: { type: string; room: string }) => {
      if (e.type === "session.ended" && a.allowFailed === true) finish(e.room, -1);
    };
    server.launcher.serviceStarted.on("started", onStarted);
    // Services already launched before this call (a participant that joined first).
    for (const room of a.rooms) {
      for (const svc of server.launcher.liveSession(room)?.services ?? []) {
        if (svc.handle !== null) onStarted({ room, handle: svc.handle });
        else if (svc.launchError !== null) onFailed({ room });
      }
    }
    server.launcher.activity.on("failed", onFailed);
    server.rooms.events.on("event", onRoom);
    cleanup.push(() => server.launcher.serviceStarted.off("started", onStarted), () => server.launcher.activity.off("failed", onFailed), () => server.rooms.events.off("event", onRoom));
    const timer = setTimeout(() => {
      if (a.allowFailed === true) {
        for (const r of [...pending]) finish(r, -1);
        return;
      }
      const late = [...pending];
      void server.launcher.list(late[0]!).then((l) => end(new Error(`${late.length} of ${a.rooms.length} rooms not running within ${a.timeoutMs} ms (e.g. ${late[0]}: ${JSON.stringify(l.service_states.map((st) => [st.state, st.last_start_error]))})`)));
    }, a.timeoutMs);
    cleanup.push(() => clearTimeout(timer));
  });
}

serve(
  {
    usage: (a: { gc?: boolean } | null) => usage(a?.gc === true),
    addService: async (a: { room: string | null; name: string; manifest: Record<string, unknown> }) => {
      await server.services.create("default", a.room, a.name, a.manifest, Date.now());
      return null;
    },
    waitRunning: (a: { rooms: string[]; n: number; timeoutMs: number; allowFailed?: boolean }) => waitRunning(a),
    /** Why the services of `room` failed to start (last_start_error of each failed one). */
    failures: async (a: { room: string }) => {
      const errors = (await server.launcher.list(a.room)).service_states.filter((s) => s.state === "failed").map((s) => s.last_start_error);
      if (errors.length > 0) return errors;
      return [server.launcher.liveSession(a.room) !== undefined ? "not running within the timeout" : "no live session: the participant could not connect or its connection was lost"];
    },
    waitEnded: (a: { rooms: string[]; timeoutMs: number }) => until(a.rooms, ended, a.timeoutMs, "ended"),
    /** Until the pool of ready namespaces is full again (a steady state to sample in). */
    waitPool: async () => {
      const deadline = Date.now() + 30_000;
      while (((runtime as { pooled?: number }).pooled ?? poolSize) < poolSize && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return null;
    },
    snapshot: async (a: { path: string }) => {
      await usage(true); // full GCs first, so the snapshot holds live objects only
      return writeHeapSnapshot(a.path);
    },
    held: () => ({
      rooms: server.rooms.list().length, activity: server.activity.held, streams: server.streams.size,
      // Previous CPU readings the runtime keeps for sampled services (0 once their sessions ended).
      statsTracked: (runtime as { statsTracked?: number }).statsTracked ?? null,
      // Timers, sockets, handles still open (a count that grows with the sessions is a leak).
      resources: process.getActiveResourcesInfo().reduce<Record<string, number>>((m, r) => ((m[r] = (m[r] ?? 0) + 1), m), {}),
    }),
    close: async () => {
      // server.close() closes the runtime too; a fresh one (no pool) reaps whatever is left.
      await server.close();
      const again: Runtime = kind === "docker" ? await createDockerRuntime({ ownerId, logger }) : await createSandboxRuntime({ ownerId, logger });
      await again.reapOrphans();
      await again.close();
    },
  },
  { url: server.url, pid: process.pid },
);
