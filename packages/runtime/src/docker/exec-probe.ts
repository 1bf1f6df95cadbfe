/**
 * An exec probe's command run in a Docker container (`POST /containers/{id}/exec`, then an
 * attached start), with its timeout. On timeout the command and everything it forked are
 * killed (Docker has no API for that: the exec's host pid and its descendants get SIGKILL), and
 * the check returns only once Docker has seen that process end — so a container never holds
 * two probe processes at once (issue 12 #21).
 *
 * The race this closes: dockerd answers an attached exec start (the hijacked stream's
 * `200 OK`) *before* containerd has started the process. On a loaded machine that gap can
 * outlast the probe's timeout; the exec is then neither running (`Running: false`, `Pid: 0`)
 * nor ended (`ExitCode: null`). Counting that as "ended" let the process start later,
 * unwatched, beside the next check's.
 */
import type { Readable } from "node:stream";
import type { CheckResult } from "../probes.ts";
import { DockerDemuxer } from "../logs.ts";
import { alive, killTree } from "../proc.ts";
import type { Logger } from "../types.ts";
import type { DockerEngine } from "./engine.ts";

/** How long a timed-out exec probe may take to start and die after SIGKILL before the next check goes ahead anyway. */
export const EXEC_KILL_WAIT_MS = 5000;
const EXEC_OUTPUT_MAX = 64 * 1024;

/** "1 s", "0.5 s": probe timeouts are configured in seconds. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** What Docker's `GET /exec/{id}/json` says (ExitCode is null until the process has ended). */
interface ExecInspect {
  Running: boolean;
  Pid: number;
  ExitCode: number | null;
}

/** Runs `command` in container `containerId` as a probe check (see the module comment). */
export async function execProbe(docker: Pick<DockerEngine, "json" | "raw">, containerId: string, command: string[], timeoutMs: number, log: Logger): Promise<CheckResult> {
  let execId: string;
  try {
    ({ Id: execId } = await docker.json<{ Id: string }>({
      method: "POST", path: `/containers/${containerId}/exec`, body: { Cmd: command, AttachStdout: true, AttachStderr: true },
    }));
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  let res: Readable | null = null;
  let started = false; // Docker answered the start (the process may not exist yet)
  try {
    const run = (async () => {
      try {
        res = await docker.raw({ method: "POST", path: `/exec/${execId}/start`, body: { Detach: false, Tty: false }, long: true });
      } finally {
        started = true;
      }
      return readCapped(res, EXEC_OUTPUT_MAX);
    })();
    run.catch(() => undefined);
    const first = await Promise.race([run, timedOut]);
    if (first === "timeout") {
      await killExec(docker, execId, () => started, log);
      (res as Readable | null)?.destroy();
      return { ok: false, error: `timed out after ${formatSeconds(timeoutMs)}` };
    }
    const info = await docker.json<ExecInspect>({ method: "GET", path: `/exec/${execId}/json` });
    if (info.ExitCode === 0) return { ok: true };
    return { ok: false, error: `command exited with ${info.ExitCode}${first.length > 0 ? `: ${demuxText(first).slice(-200)}` : ""}` };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SIGKILL to the exec's process tree once it exists; returns when Docker reports it ended
 * (ExitCode set), or after EXEC_KILL_WAIT_MS (logged). A start still in flight, or answered
 * but not yet running, is waited for: a process started after we gave up would run unwatched.
 */
async function killExec(docker: Pick<DockerEngine, "json">, execId: string, started: () => boolean, log: Logger): Promise<void> {
  const deadline = Date.now() + EXEC_KILL_WAIT_MS;
  for (;;) {
    let info: ExecInspect;
    try {
      info = await docker.json<ExecInspect>({ method: "GET", path: `/exec/${execId}/json` });
    } catch {
      return; // the container (and the exec) is gone
    }
    if (info.Running && info.Pid > 0) {
      if (alive(info.Pid)) killTree(info.Pid, "SIGKILL");
    } else if (started() && info.ExitCode !== null && info.ExitCode !== undefined) {
      return; // it ran and ended
    }
    if (Date.now() > deadline) {
      log.warn({ pid: info.Pid, running: info.Running }, "a timed-out probe command did not end (or start) within the wait; the next check goes ahead");
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Reads a stream to its end, keeping at most `max` bytes (the rest is discarded, not buffered). */
function readCapped(s: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    s.on("data", (c: Buffer) => {
      if (size >= max) return;
      chunks.push(c.subarray(0, max - size));
      size += Math.min(c.length, max - size);
    });
    s.on("end", () => resolve(Buffer.concat(chunks)));
    s.on("close", () => resolve(Buffer.concat(chunks)));
    s.on("error", reject);
  });
}

function demuxText(buf: Buffer): string {
  let text = "";
  new DockerDemuxer((_s, p) => (text += p.toString("utf8"))).push(buf);
  return text.trim();
}
