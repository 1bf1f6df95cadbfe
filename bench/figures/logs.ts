/**
 * Issue #4 item 5 — log latency: from a container writing a line until (a) an SDK client's
 * developer.logs stream and (b) the service's SSE stream receive it.
 *
 * The service prints `LOG <monotonic ns>` every 20 ms; the receiver subtracts that from its
 * own process.hrtime (CLOCK_MONOTONIC is one clock for the whole machine, containers
 * included), so each line's latency is exact to the microsecond.
 *
 *   Baseline: the same lines read straight from Docker's log stream (Engine API
 *             `GET /containers/{id}/logs?follow=1`, demultiplexed) in this same process —
 *             the source Roomservice itself reads from.
 */
import { DockerDemuxer, LineSplitter } from "@roomservice/runtime";
import { mintParticipantToken } from "@roomservice/server";
import { row, type BenchContext, type Figure, type FigureResult } from "../lib/types.ts";
import { summarize, roundSummary, round } from "../lib/stats.ts";
import { sdkClient, disposeSdkClient } from "../lib/sdk.ts";
import { startDockerServer, waitUntil, HTTP_IMAGE } from "../lib/docker-env.ts";

const now = () => Number(process.hrtime.bigint());
const latencyOf = (line: string): number | null => {
  const m = /LOG (\d+)/.exec(line);
  return m === null ? null : (now() - Number(m[1])) / 1e6;
};

export const logs: Figure = {
  name: "logs",
  title: "Log latency: container line → SDK developer.logs and SSE, vs Docker's own log stream",
  requires: "docker",
  async run(ctx: BenchContext): Promise<FigureResult> {
    const lines = ctx.quick ? 100 : 500;
    const env = await startDockerServer({ poolSize: 0 });
    const sdkLat: number[] = [];
    const sseLat: number[] = [];
    const baseLat: number[] = [];
    try {
      const room = "logs";
      const code = `let n=0;const t=setInterval(()=>{console.log('LOG '+process.hrtime.bigint());if(++n>=${lines + 50})clearInterval(t)},20);setInterval(()=>{},1e6)`;
      const id = (await env.server.services.create("default", room, "talker", {
        version: "v1", kind: "Service", metadata: { name: "talker" },
        container: { image: HTTP_IMAGE, command: `/usr/local/bin/node -e ${JSON.stringify(code)}` },
      }, Date.now())).id;
      const token = await mintParticipantToken(env.secret, { room, identity: "watcher", role: "user", ttlSeconds: 600 });
      const client = await sdkClient(env.server.url, room, token);
      void (async () => {
        for await (const e of client.developer.logs()) {
          if (e.type !== "service.log") continue;
          const l = latencyOf(String(e.data.line));
          if (l !== null) sdkLat.push(l);
        }
      })().catch(() => undefined);
      const key = (await env.server.apiKeys.create("default", "bench", Date.now())).key;
      const sse = await fetch(`${env.server.url}/accounts/projects/default/rooms/${room}/services/${id}/logs?token=${key}`);
      const sseReader = sse.body!.getReader();
      let live = false;
      void (async () => {
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await sseReader.read();
          if (done) return;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (ev.startsWith(": live")) live = true;
            // The stream carries `event: log` (data: a LogLine, docs/studio-api.md) and the
            // service's events; only log lines count.
            const data = /^data: (.*)$/m.exec(ev)?.[1];
            if (data !== undefined && live && /^event: log$/m.test(ev)) {
              const l = latencyOf(String(JSON.parse(data).text));
              if (l !== null) sseLat.push(l);
            }
          }
        }
      })().catch(() => undefined);
      await waitUntil("talker running", async () => (await env.server.launcher.list(room)).service_states[0]?.state === "running", 30_000, 10);
      const container = (await env.server.launcher.list(room)).service_states[0]!.container_id!;
      // Baseline: Docker's own follow stream of the same container, from now on.
      const res = await env.runtime.docker.raw({ method: "GET", path: `/containers/${container}/logs`, query: { follow: 1, stdout: 1, stderr: 1, since: Math.floor(Date.now() / 1000) } });
      const splitter = new LineSplitter((line) => {
        const l = latencyOf(line);
        if (l !== null) baseLat.push(l);
      });
      const demux = new DockerDemuxer((_s, payload) => splitter.push(payload));
      res.on("data", (c: Buffer) => demux.push(c));
      await waitUntil("enough lines", () => sdkLat.length >= lines && sseLat.length >= lines && baseLat.length >= lines, 60_000, 20);
      res.destroy();
      await sseReader.cancel();
      await disposeSdkClient(client);
    } finally {
      await env.close();
    }
    const take = (xs: number[]) => xs.slice(5, lines); // skip the first few (stream set-up)
    const s = { sdk: summarize(take(sdkLat)), sse: summarize(take(sseLat)), base: summarize(take(baseLat)) };
    return {
      rows: [
        row({ metric: `developer.logs latency p50 ms (p99 ${round(s.sdk.p99, 3)} vs ${round(s.base.p99, 3)})`, roomservice: round(s.sdk.p50), baseline: round(s.base.p50), unit: "ms", better: "lower" }),
        row({ metric: "developer.logs latency p99 ms", roomservice: round(s.sdk.p99), baseline: round(s.base.p99), unit: "ms", better: "lower", target: "< 100 ms", met: s.sdk.p99 < 100 }),
        row({ metric: `SSE latency p50 ms (p99 ${round(s.sse.p99, 3)})`, roomservice: round(s.sse.p50), baseline: round(s.base.p50), unit: "ms", better: "lower" }),
        row({ metric: "SSE latency p99 ms", roomservice: round(s.sse.p99), baseline: round(s.base.p99), unit: "ms", better: "lower", target: "< 100 ms", met: s.sse.p99 < 100 }),
      ],
      details: { lines, sdk: roundSummary(s.sdk), sse: roundSummary(s.sse), dockerFollow: roundSummary(s.base) },
    };
  },
};
