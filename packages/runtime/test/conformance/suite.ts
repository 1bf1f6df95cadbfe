/**
 * The runtime conformance suite: what every runtime (docker, sandbox, Pods on podman or a
 * cluster) must do for the server, checked on real containers/processes through the public
 * Runtime interface only. A runtime file calls `runtimeConformance(kind)`; behaviours a
 * runtime lacks are declared in its Capabilities (harness.ts) and reported as skipped with
 * the reason, never silently passed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { fileURLToPath } from "node:url";
import type { RoomSandbox } from "../../src/index.ts";
import { collectLogs, NODE, overlapRecordingProbe, probeRecord, resultLine, tcpProbe, testLogger, waitFor } from "../helpers.ts";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeHarness, unavailable, type Harness, type RuntimeKind } from "./harness.ts";
import { fileMountsConformance, leftFileMounts, LEFT_FILE_TEXT } from "./file-mounts.ts";

/** Pods take longer (image checks, infra container): one bound for every wait, only against hangs. */
const WAIT_MS = 90_000;

export function runtimeConformance(kind: RuntimeKind): void {
  const why = unavailable(kind);
  describe(`runtime conformance: ${kind}`, { skip: why ?? false }, () => {
    let h: Harness;
    const ownerId = `conf-${kind.slice(0, 4)}-${randomBytes(3).toString("hex")}`;
    const rooms: RoomSandbox[] = [];
    const room = async (name: string): Promise<RoomSandbox> => {
      const sb = await h.runtime.createRoomSandbox({ room: name, sessionId: `s-${randomBytes(4).toString("hex")}` });
      rooms.push(sb);
      return sb;
    };
    before(async () => {
      h = await makeHarness(kind, ownerId);
    });
    after(async () => {
      await Promise.allSettled(rooms.map((r) => r.stop()));
      await h?.runtime.reapOrphans().catch(() => {});
      await h?.close();
    });

    test("a room's services share localhost, become ready, and report Created, Started, Ready", async () => {
      const sb = await room("conf-net");
      const web = sb.startService(h.spec("web", "http.js", { env: { PORT: "9100", NAME: "web" }, ports: [{ num: 9100, type: "http", livenessPath: "/healthz" }], probes: { readiness: tcpProbe(9100) } }));
      const echo = sb.startService(h.spec("echo", "tcp.js", { env: { PORT: "9200" }, probes: { readiness: tcpProbe(9200) } }));
      const client = sb.startService(h.spec("client", "client.js", { env: { HTTP_PORT: "9100", TCP_PORT: "9200" } }));
      const lines = collectLogs(client);
      await waitFor("all services running", () => [web, echo, client].every((x) => x.status().state === "running"), WAIT_MS);
      const r = await resultLine(lines);
      assert.deepEqual(r.http, { ok: true, body: "hello from web" });
      assert.deepEqual(r.tcp, { ok: true, body: "ping" });
      for (const x of [web, echo, client]) {
        const st = x.status();
        assert.ok(st.container_id, `${x.serviceId} has a container id`);
        assert.equal(typeof st.started_at, "number");
        assert.deepEqual(st.events.map((e) => e.reason).slice(0, 3), ["Created", "Started", "Ready"], `${x.serviceId}: ${JSON.stringify(st.events)}`);
      }
      assert.equal(web.status().ports[0]!.liveness_status, "ready");
      await sb.stop();
    });

    test("the Room API answers services at the URL the runtime gives them (127.0.0.1:8078)", async () => {
      const sb = await room("conf-api");
      const app = http.createServer((req, res) => res.end(`room api saw ${req.url}`));
      const api = await h.runtime.openRoomApi(sb, (s) => app.emit("connection", s));
      try {
        assert.equal(api.url, "ws://127.0.0.1:8078");
        const caller = sb.startService(h.spec("caller", "client.js", { env: { HTTP_PORT: "8078", HTTP_PATH: "/hello", TRIES: "600" } }));
        const r = await resultLine(collectLogs(caller));
        assert.deepEqual(r.http, { ok: true, body: "room api saw /hello" });
      } finally {
        api.close();
        api.close(); // idempotent
        app.close();
        await sb.stop();
      }
    });

    test("the server connects to a service's port on the room's localhost (openConnector: the MCP bridge's path)", async (t) => {
      const sb = await room("conf-connect");
      if (sb.openConnector === undefined) return t.skip(`${kind} offers no connector`);
      const web = sb.startService(h.spec("web", "http.js", { env: { PORT: "9100", NAME: "inside" }, probes: { readiness: tcpProbe(9100) } }));
      await waitFor("web ready", () => web.status().state === "running", WAIT_MS);
      const connector = sb.openConnector(testLogger());
      try {
        const get = (port: number) => new Promise<string>((resolve, reject) => {
          const req = http.request({
            // No agent: node:http then uses createConnection (an agent would ignore it).
            host: "127.0.0.1", port, path: "/",
            createConnection: (_o: unknown, cb: (err: Error | null, s?: import("node:net").Socket) => void) => {
              connector.connect(port, 10_000).then((s) => cb(null, s), (err: Error) => cb(err));
              return undefined;
            },
          } as http.RequestOptions, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve(body));
          });
          req.on("error", reject);
          req.end();
        });
        assert.equal(await get(9100), "hello from inside");
        assert.equal(await get(9100), "hello from inside", "a second connection works too");
        // Nothing listens on 9555 in the room: a clear error, not a hang.
        await assert.rejects(connector.connect(9555, 5000));
      } finally {
        connector.close();
        await sb.stop();
      }
    });

    test("secrets arrive as files only: /run/secrets/NAME, 0400, read-only, not in env, masked in logs", async () => {
      const sb = await room("conf-secret");
      const secret = `sk-conf-${randomBytes(6).toString("hex")}`;
      const svc = sb.startService(h.spec("integration", "secret.js", { env: { SECRET_NAME: "API_KEY" }, secretFiles: { API_KEY: secret } }));
      // A neighbour in the same room gets no secret of its own.
      const other = sb.startService(h.spec("other", "env.js", { env: { SHOW: "API_KEY" } }));
      const lines = collectLogs(svc);
      const otherLines = collectLogs(other);
      const printed = await waitFor("the secret line", () => lines.find((l) => l.line.startsWith("the key is")), WAIT_MS);
      assert.equal(printed.line, "the key is **** (mode 400, writable false)");
      await waitFor("length", () => lines.find((l) => l.line === `SECRET_LEN ${secret.length}`), WAIT_MS);
      await waitFor("env check", () => lines.find((l) => l.line === "SECRET_IN_ENV false"), WAIT_MS);
      assert.ok(lines.every((l) => !l.line.includes(secret)));
      const env = await waitFor("neighbour env", () => otherLines.find((l) => l.line.startsWith("ENV ")), WAIT_MS);
      assert.equal(env.line, 'ENV {"API_KEY":null}');
      await sb.stop();
    });

    test("session values (tokens) and secret env reach the process env and the Room API, and appear nowhere in what the engine shows", async (t) => {
      const sb = await room("conf-session");
      const token = `tok-${randomBytes(12).toString("hex")}`;
      const sessionId = `sess-${randomBytes(6).toString("hex")}`;
      const apiKey = `sk-env-${randomBytes(8).toString("hex")}`;
      const marker = `visible-${randomBytes(4).toString("hex")}`;
      const app = http.createServer((req, res) => res.end(req.headers.authorization === `Bearer ${token}` ? "token accepted" : `token refused: ${req.headers.authorization ?? "none"}`));
      const api = await h.runtime.openRoomApi(sb, (s) => app.emit("connection", s));
      const session = { MESHAGENT_TOKEN: token, MESHAGENT_SESSION_ID: sessionId };
      try {
        const shower = sb.startService(h.spec("shower", "env.js", {
          env: { ...session, SHOW: "MESHAGENT_TOKEN,MESHAGENT_SESSION_ID,API_KEY,PLAIN", HASH: "1", PLAIN: marker },
          sessionEnv: ["MESHAGENT_TOKEN", "MESHAGENT_SESSION_ID"], secretFiles: { API_KEY: apiKey }, secretEnv: ["API_KEY"],
        }));
        const caller = sb.startService(h.spec("caller", "client.js", {
          env: { ...session, HTTP_PORT: "8078", AUTH_ENV: "MESHAGENT_TOKEN", TRIES: "600" }, sessionEnv: ["MESHAGENT_TOKEN", "MESHAGENT_SESSION_ID"],
        }));
        const shown = collectLogs(shower);
        const called = collectLogs(caller);
        const line = await waitFor("ENV line", () => shown.find((l) => l.line.startsWith("ENV ")), WAIT_MS);
        const sha = (v: string) => createHash("sha256").update(v).digest("hex");
        assert.deepEqual(JSON.parse(line.line.slice(4)), { MESHAGENT_TOKEN: sha(token), MESHAGENT_SESSION_ID: sha(sessionId), API_KEY: sha(apiKey), PLAIN: sha(marker) });
        const r = await resultLine(called);
        assert.deepEqual(r.http, { ok: true, body: "token accepted" });
        if (typeof h.caps.engineView === "string") return t.skip(h.caps.engineView);
        const view = await h.caps.engineView(sb);
        assert.ok(view.includes(marker), "the engine's view holds the services' env (so the check below can fail)");
        for (const [what, v] of Object.entries({ token, sessionId, apiKey })) {
          for (const form of [v, Buffer.from(v).toString("base64"), Buffer.from(v).toString("hex")]) {
            assert.ok(!view.includes(form), `the ${what} (or its base64/hex) appears in what ${kind} shows about the room's containers`);
          }
        }
      } finally {
        api.close();
        app.close();
        await sb.stop();
      }
    });

    test("the stop signal reaches a program a wrapper forked (the command's whole process group), which exits cleanly", async () => {
      const sb = await room("conf-group");
      const h1 = sb.startService(h.spec("wrapped", "wrapper.js", { env: { CHILD: "polite.js" }, stop: { signal: "SIGTERM", gracePeriodMs: 10_000 } }));
      const h2 = sb.startService(h.spec("wrapped-env", "wrapper.js", {
        env: { CHILD: "polite.js" }, secretFiles: { TOK: "tok-value-1234" }, secretEnv: ["TOK"], stop: { signal: "SIGTERM", gracePeriodMs: 10_000 },
      }));
      const l1 = collectLogs(h1);
      const l2 = collectLogs(h2);
      await waitFor("children up", () => (l1.some((l) => l.line === "polite up") && l2.some((l) => l.line === "polite up")) || h2.status().state === "failed", WAIT_MS);
      assert.equal(h2.status().last_start_error, null, "with secret env (the launcher in front) too");
      await sb.stop();
      for (const [x, lines] of [[h1, l1], [h2, l2]] as const) {
        assert.ok(lines.some((l) => l.line === "polite got SIGTERM"), `${x.serviceId}: ${lines.map((l) => l.line).join("\n")}`);
        assert.deepEqual(x.lastExit(), { exitCode: 0, reason: "exit" }, x.serviceId);
      }
    });

    test("a liveness probe that fails kills the service (Unhealthy, Killing) and it is restarted", async (t) => {
      if (!h.caps.evaluatesProbes) return t.skip(`${kind} does not run probes`);
      const sb = await room("conf-liveness");
      // Listens on 9100; the liveness probe asks 9101, where nothing listens.
      const svc = sb.startService(h.spec("sick", "http.js", {
        env: { PORT: "9100" },
        probes: { liveness: { ...tcpProbe(9101), periodMs: 1000, failureThreshold: 2 } },
        restart: { policy: "always", initialBackoffMs: 100, maxBackoffMs: 1000, resetAfterMs: 60_000 },
        stop: { signal: "SIGTERM", gracePeriodMs: 1000 },
      }));
      // The restart and the probe's events may be observed in either order (podman: separate polls).
      const reasonsNow = () => svc.status().events.map((e) => e.reason);
      await waitFor("restarted after failing liveness, with Unhealthy and Killing events", () => svc.status().restart_count >= 1 && reasonsNow().includes("Unhealthy") && reasonsNow().includes("Killing"), WAIT_MS).catch(async (err) => {
        await sb.stop(); // the later tests check that nothing is left behind
        throw new Error(`${(err as Error).message}: ${JSON.stringify(svc.status().events)}`);
      });
      const reasons = reasonsNow();
      assert.ok(reasons.includes("Unhealthy") && reasons.includes("Killing"), JSON.stringify(svc.status().events));
      assert.match(svc.status().events.find((e) => e.reason === "Unhealthy")!.message, /^Liveness probe failed: /);
      await sb.stop();
    });

    test("a startup probe gates readiness: one that passes lets the service become ready, one that never passes kills it", async (t) => {
      if (!h.caps.evaluatesProbes) return t.skip(`${kind} does not run probes`);
      const sb = await room("conf-startup");
      // A generous budget for the one that passes (a loaded machine boots node slowly), a short one for the other.
      const startup = (port: number, failureThreshold: number) => ({ ...tcpProbe(port), periodMs: 1000, startIntervalMs: 200, failureThreshold });
      const ok = sb.startService(h.spec("ok", "http.js", { env: { PORT: "9100" }, probes: { startup: startup(9100, 60) } }));
      const never = sb.startService(h.spec("never", "tcp.js", {
        env: { PORT: "9300" }, probes: { startup: startup(9301, 2) },
        restart: { policy: "always", initialBackoffMs: 100, maxBackoffMs: 1000, resetAfterMs: 60_000 },
        stop: { signal: "SIGTERM", gracePeriodMs: 1000 },
      }));
      await waitFor("ok ready", () => ok.status().state === "running", WAIT_MS);
      await waitFor("never killed by its startup probe", () => never.status().events.some((e) => e.reason === "Killing"), WAIT_MS);
      assert.match(never.status().events.find((e) => e.reason === "Unhealthy")!.message, /^Startup probe failed: /);
      assert.ok(!never.status().events.some((e) => e.reason === "Ready"), JSON.stringify(never.status().events));
      await sb.stop();
    });

    test("file mounts (read-only: refused writes; writable: its own copy) and empty dirs (read-only too) as the service sees them, before and after a restart", async () => {
      await fileMountsConformance(h, await room("conf-files"), WAIT_MS);
    });

    test("a timed-out exec probe is killed before the next check: at most one probe process at a time (issue 12 #21)", async (t) => {
      if (kind === "kubernetes") return t.skip("the probes' record is a host directory; a cluster's node is another machine");
      // Each check records whether an earlier one still runs as it starts (helpers.ts): no sampling, no timing.
      const dir = await mkdtemp(join(tmpdir(), "rs-conf-probe-"));
      await chmod(dir, 0o777);
      const sb = await room("conf-exec-timeout");
      try {
        const nodeBin = kind === "sandbox" ? process.execPath : NODE;
        const probe = { action: { kind: "exec" as const, command: overlapRecordingProbe(nodeBin, "/probe") }, initialDelayMs: 0, periodMs: 300, startIntervalMs: 300, timeoutMs: 1000, failureThreshold: 1, successThreshold: 1 };
        const svc = sb.startService(h.spec("slow", "polite.js", { probes: { readiness: probe }, mounts: [{ hostPath: dir, containerPath: "/probe", readOnly: false }] }));
        await waitFor("the first timeout", () => svc.status().events.find((e) => e.reason === "Unhealthy"), WAIT_MS);
        await waitFor("four checks started", () => probeRecord(dir).started >= 4, WAIT_MS);
        assert.equal(probeRecord(dir).overlaps, "", "at most one probe process at a time");
        assert.equal(svc.status().events.find((e) => e.reason === "Unhealthy")?.message, "Readiness probe failed: timed out after 1 s");
      } finally {
        await sb.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("declared environment variables reach the service", async () => {
      const sb = await room("conf-env");
      const svc = sb.startService(h.spec("env", "env.js", { env: { SHOW: "GREETING,MULTI,EMPTY", GREETING: "hello room", MULTI: "a=b c\"d'", EMPTY: "" } }));
      const lines = collectLogs(svc);
      const l = await waitFor("ENV line", () => lines.find((x) => x.line.startsWith("ENV ")), WAIT_MS);
      assert.deepEqual(JSON.parse(l.line.slice(4)), { GREETING: "hello room", MULTI: "a=b c\"d'", EMPTY: "" });
      await sb.stop();
    });

    test("restart with a new spec applies it; stopping one service leaves its neighbour running", async () => {
      const sb = await room("conf-restart");
      const svc = sb.startService(h.spec("env", "env.js", { env: { SHOW: "GREETING", GREETING: "first" } }));
      const other = sb.startService(h.spec("other", "http.js", { env: { PORT: "9100" }, probes: { readiness: tcpProbe(9100) } }));
      const lines = collectLogs(svc);
      await waitFor("first", () => lines.some((l) => l.line === 'ENV {"GREETING":"first"}'), WAIT_MS);
      await svc.restart(h.spec("env", "env.js", { env: { SHOW: "GREETING", GREETING: "second" } }));
      await waitFor("second", () => lines.some((l) => l.line === 'ENV {"GREETING":"second"}'), WAIT_MS);
      await waitFor("running again", () => svc.status().state === "running", WAIT_MS);
      assert.ok(svc.status().restart_count >= 1, JSON.stringify(svc.status()));
      await waitFor("other running", () => other.status().state === "running", WAIT_MS);
      const killing = other.status().events.filter((e) => e.reason === "Killing");
      if (h.caps.siblingsRestartOnChange) {
        // One Pod per room: the neighbour was restarted with it, and its events say why.
        assert.ok(killing.some((e) => e.message.includes(`the room's Pod is replaced because "env" restarted`)), JSON.stringify(other.status().events));
      } else {
        assert.deepEqual(killing, [], "the neighbour was not touched");
      }
      const otherBefore = other.status();
      await svc.stop();
      assert.equal(svc.status().state, "stopped");
      assert.equal(svc.lastExit()?.exitCode, 0);
      await waitFor("other running after its neighbour stopped", () => other.status().state === "running", WAIT_MS);
      if (h.caps.restartsInPlace === true) {
        const o = other.status();
        assert.deepEqual([o.container_id, o.started_at], [otherBefore.container_id, otherBefore.started_at], "stopping one service left its neighbour's run alone");
      }
      // Started again, same configuration, after stopping alone (podman: the Pod's stopped container restarts in place).
      sb.startService(h.spec("env", "env.js", { env: { SHOW: "GREETING", GREETING: "second" } }));
      await waitFor("second, again", () => lines.filter((l) => l.line === 'ENV {"GREETING":"second"}').length >= 2, WAIT_MS);
      await waitFor("running once more", () => svc.status().state === "running", WAIT_MS);
      await sb.stop();
    });

    test("a restart that only changes values (a new token) restarts that service alone; its neighbour keeps its run", async (t) => {
      if (h.caps.restartsInPlace !== true) return t.skip(h.caps.restartsInPlace);
      const sb = await room("conf-inplace");
      const withToken = (token: string) => h.spec("agent", "env.js", {
        env: { SHOW: "MESHAGENT_TOKEN", HASH: "1", MESHAGENT_TOKEN: token }, sessionEnv: ["MESHAGENT_TOKEN"], secretFiles: { API_KEY: `key-${token}` },
      });
      const sha = (v: string) => createHash("sha256").update(v).digest("hex");
      const first = `tok-${randomBytes(8).toString("hex")}`;
      const second = `tok-${randomBytes(8).toString("hex")}`;
      const agent = sb.startService(withToken(first));
      const other = sb.startService(h.spec("other", "http.js", { env: { PORT: "9100" }, probes: { readiness: tcpProbe(9100) } }));
      const lines = collectLogs(agent);
      await waitFor("first token", () => lines.some((l) => l.line === `ENV {"MESHAGENT_TOKEN":"${sha(first)}"}`), WAIT_MS);
      await waitFor("other running", () => other.status().state === "running", WAIT_MS);
      const before = other.status();
      await agent.restart(withToken(second));
      await waitFor("second token", () => lines.some((l) => l.line === `ENV {"MESHAGENT_TOKEN":"${sha(second)}"}`), WAIT_MS);
      await waitFor("agent running again", () => agent.status().state === "running", WAIT_MS);
      assert.ok(agent.status().restart_count >= 1, JSON.stringify(agent.status()));
      const after = other.status();
      assert.equal(after.state, "running");
      assert.deepEqual([after.container_id, after.started_at, after.restart_count], [before.container_id, before.started_at, before.restart_count], "the neighbour's run is the same");
      assert.ok(!after.events.some((e) => e.reason === "Killing"), JSON.stringify(after.events));
      await sb.stop();
    });

    test("a readiness probe that never succeeds keeps the service from becoming ready", async (t) => {
      if (!h.caps.evaluatesProbes) return t.skip(`${kind} does not run readiness probes`);
      const sb = await room("conf-probe");
      const ok = sb.startService(h.spec("ok", "http.js", { env: { PORT: "9100" }, probes: { readiness: tcpProbe(9100) } }));
      // Listens on 9300; the probe asks 9301, where nothing ever listens.
      const never = sb.startService(h.spec("never", "tcp.js", { env: { PORT: "9300" }, probes: { readiness: { ...tcpProbe(9301), periodMs: 1000, startIntervalMs: 200 } } }));
      await waitFor("ok ready", () => ok.status().state === "running", WAIT_MS);
      // Give the failing probe a few periods after its neighbour is ready: still not ready.
      await waitFor("never has started", () => never.status().started_at !== null, WAIT_MS);
      await new Promise((r) => setTimeout(r, 3000));
      assert.notEqual(never.status().state, "running");
      assert.ok(!never.status().events.some((e) => e.reason === "Ready"), JSON.stringify(never.status().events));
      await sb.stop();
    });

    test("output arrives as log lines, in order, with stderr kept apart where the engine keeps it", async () => {
      const sb = await room("conf-logs");
      const svc = sb.startService(h.spec("talker", "lines.js", { env: { LINES: "5" } }));
      const lines = collectLogs(svc);
      await waitFor("all lines", () => lines.some((l) => l.line === "an error line") && lines.filter((l) => l.line.startsWith("line ")).length === 5, WAIT_MS);
      assert.deepEqual(lines.filter((l) => l.line.startsWith("line ")).map((l) => l.line), ["line 1", "line 2", "line 3", "line 4", "line 5"]);
      assert.ok(lines.every((l) => l.serviceId === "talker" && typeof l.timestamp === "number"));
      const err = lines.find((l) => l.line === "an error line")!;
      assert.equal(err.stream, h.caps.separatesStderr ? "stderr" : "stdout");
      await sb.stop();
    });

    test("stop: a polite service exits 0 on the stop signal; one that ignores it is killed after the grace period", async () => {
      const sb = await room("conf-stop");
      const polite = sb.startService(h.spec("polite", "polite.js", { stop: { signal: "SIGTERM", gracePeriodMs: 2000 } }));
      const stubborn = sb.startService(h.spec("stubborn", "stubborn.js", { stop: { signal: "SIGTERM", gracePeriodMs: 2000 } }));
      const pl = collectLogs(polite);
      const sl = collectLogs(stubborn);
      await waitFor("both up", () => pl.some((l) => l.line === "polite up") && sl.some((l) => l.line === "stubborn up"), WAIT_MS);
      await sb.stop();
      await sb.stop(); // idempotent
      assert.ok(pl.some((l) => l.line === "polite got SIGTERM"), pl.map((l) => l.line).join("\n"));
      assert.ok(sl.some((l) => l.line === "ignoring SIGTERM"), sl.map((l) => l.line).join("\n"));
      assert.deepEqual(polite.lastExit(), { exitCode: 0, reason: "exit" });
      assert.deepEqual(stubborn.lastExit(), { exitCode: 137, reason: "signal" });
      assert.equal(polite.status().state, "stopped");
      assert.equal(stubborn.status().state, "stopped");
      assert.deepEqual(await h.leftovers(), [], "a stopped room leaves nothing behind");
      // Starting a service on a stopped sandbox fails visibly instead of leaking a container.
      const late = sb.startService(h.spec("late", "http.js"));
      await waitFor("late failed", () => late.status().state === "failed", WAIT_MS);
      assert.match(late.status().last_start_error ?? "", /session has ended/);
      assert.deepEqual(await h.leftovers(), []);
    });

    test("two rooms cannot reach each other's localhost", async (t) => {
      if (h.caps.isolatesRooms !== true) return t.skip(h.caps.isolatesRooms);
      const a = await room("conf-iso-a");
      const b = await room("conf-iso-b");
      const server = a.startService(h.spec("server", "http.js", { env: { PORT: "9100" }, probes: { readiness: tcpProbe(9100) } }));
      await waitFor("server ready", () => server.status().state === "running", WAIT_MS);
      const stranger = b.startService(h.spec("stranger", "client.js", { env: { HTTP_PORT: "9100", TRIES: "3" } }));
      const r = await resultLine(collectLogs(stranger));
      assert.equal(r.http.ok, false);
      await Promise.all([a.stop(), b.stop()]);
    });

    test("reapOrphans removes what a killed run of the same owner left, by its labels, and spares live rooms", async () => {
      // A live room of this runtime (same owner) must survive the reap.
      const live = await room("conf-live");
      const keeper = live.startService(h.spec("keeper", "http.js", { env: { PORT: "9100" }, secretFiles: { K: "keep-this-one" } }));
      await waitFor("keeper running", () => keeper.status().state === "running", WAIT_MS);
      const liveThings = await h.leftovers();
      assert.ok(liveThings.length > 0);

      await runAndKill(kind, ownerId);
      const left = await h.leftovers();
      assert.ok(left.length > liveThings.length, "the killed run left something to reap");
      // Its file mount's host file too (the engine's copy: the Secret's files on podman).
      assert.ok(leftFileMounts(ownerId, LEFT_FILE_TEXT).length > 0, "the killed run left its file mount's file");
      const r = await h.runtime.reapOrphans();
      assert.ok(r.containers + r.networks + r.files > 0, JSON.stringify(r));
      assert.deepEqual((await h.leftovers()).sort(), [...liveThings].sort(), "only the live room's things remain");
      assert.deepEqual(leftFileMounts(ownerId, LEFT_FILE_TEXT), [], "no file mount's file is left");
      assert.equal(keeper.status().state, "running");
      assert.deepEqual(await h.runtime.reapOrphans(), { containers: 0, networks: 0, files: 0 });
      await live.stop();
      assert.deepEqual(await h.leftovers(), []);
    });

    // The grace period here (10 min) is far beyond every wait of the test: a kill that waited
    // for it could only end by the test's own bound (a hang), never pass.
    test("stop({kill}) ends a service at once, also one whose graceful stop is already in its grace period", { timeout: 4 * WAIT_MS }, async () => {
      const sb = await room("conf-kill");
      const grace = { stop: { signal: "SIGTERM", gracePeriodMs: 600_000 } };
      const first = sb.startService(h.spec("first", "stubborn.js", grace));
      const second = sb.startService(h.spec("second", "stubborn.js", grace));
      const fl = collectLogs(first);
      const sl = collectLogs(second);
      await waitFor("both up", () => fl.some((l) => l.line === "stubborn up") && sl.some((l) => l.line === "stubborn up"), WAIT_MS);
      await first.stop({ kill: true });
      assert.deepEqual(first.lastExit(), { exitCode: 137, reason: "signal" });
      assert.equal(first.status().state, "stopped");
      assert.ok(!fl.some((l) => l.line === "ignoring SIGTERM"), "a kill sends no stop signal first");
      // A graceful stop, in its grace period once the service has ignored the stop signal...
      const graceful = second.stop();
      await waitFor("the stop signal ignored", () => sl.some((l) => l.line === "ignoring SIGTERM"), WAIT_MS);
      // ...is overtaken by a kill: both calls return, the service ended by SIGKILL.
      await second.stop({ kill: true });
      await graceful;
      assert.deepEqual(second.lastExit(), { exitCode: 137, reason: "signal" });
      assert.equal(second.status().state, "stopped");
      await sb.stop();
      assert.deepEqual(await h.leftovers(), [], "a stopped room leaves nothing behind");
    });

    test("reapRoom removes one room of another owner on the same engine, at once, and nothing else", { timeout: 4 * WAIT_MS }, async (t) => {
      if (kind === "sandbox") {
        return t.skip("no reapRoom: the sandbox's services are children of their own node's process (--die-with-parent), and a node that lost a room's lease kills them itself");
      }
      const reapRoom = h.runtime.reapRoom?.bind(h.runtime);
      assert.ok(reapRoom !== undefined, `the ${kind} runtime removes a room of a node that lost its lease (reapRoom), as the cluster's takeover asks`);
      // The node that lost the lease: another owner on this engine, with the room and another.
      const otherOwner = `${ownerId}-b`;
      const other = await makeHarness(kind, otherOwner);
      const stale: RoomSandbox[] = [];
      try {
        const grace = { stop: { signal: "SIGTERM", gracePeriodMs: 600_000 } };
        // The moved room's service ignores its stop signal and has a long grace period: only a
        // removal without grace ends it within the test's bound.
        for (const name of ["conf-moved", "conf-kept"]) {
          const sb = await other.runtime.createRoomSandbox({ room: name, sessionId: `s-${randomBytes(4).toString("hex")}` });
          stale.push(sb);
          const svc = sb.startService(name === "conf-moved" ? other.spec("svc", "stubborn.js", grace) : other.spec("svc", "http.js", { env: { PORT: "9100" } }));
          await waitFor(`${name} up`, () => svc.status().state === "running", WAIT_MS);
        }
        // This owner's own room of the same name is not the other owner's.
        const mine = await room("conf-moved");
        const own = mine.startService(h.spec("own", "http.js", { env: { PORT: "9100" } }));
        await waitFor("own up", () => own.status().state === "running", WAIT_MS);
        const before = await other.leftovers();
        const mineBefore = await h.leftovers();

        const r = await reapRoom(otherOwner, "conf-moved");
        assert.ok(r.containers > 0, JSON.stringify(r));
        const after = await other.leftovers();
        assert.ok(after.length > 0 && after.length < before.length, `only the moved room went: ${JSON.stringify({ before, after })}`);
        assert.deepEqual((await h.leftovers()).sort(), mineBefore.sort(), "this owner's things are untouched");
        assert.equal(own.status().state, "running");
        assert.deepEqual(await reapRoom(otherOwner, "conf-moved"), { containers: 0, networks: 0, files: 0 }, "nothing left to reap");
        await mine.stop();
      } finally {
        await Promise.allSettled(stale.map((sb) => sb.stop()));
        await other.runtime.reapOrphans().catch(() => {});
        await other.close();
      }
    });
  });
}

function runAndKill(kind: RuntimeKind, ownerId: string): Promise<void> {
  const script = fileURLToPath(new URL("../fixtures/crashed-run.ts", import.meta.url));
  const child = spawn(process.execPath, [script, kind, ownerId], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (c: Buffer) => {
      if (c.toString().includes("READY")) child.kill("SIGKILL");
    });
    child.on("exit", (code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`the earlier run exited on its own (${signal ?? code})`))));
  });
}
