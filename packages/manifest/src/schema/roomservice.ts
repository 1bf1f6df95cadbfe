/**
 * The `roomservice:` section: settings MeshAgent manifests have no place for — health
 * probes, restart policy, stop behaviour, resource limits and secret delivery. Kept in one
 * clearly named top-level section so that the MeshAgent part of a manifest stays exactly
 * what MeshAgent defines.
 *
 * Names follow Kubernetes (probes) and Docker/Compose (stop, resources) so that people can
 * carry over what they know; durations are in seconds here and in milliseconds once
 * normalized. Every default is a named constant below and is applied in the parsed output.
 */
import { z } from "zod";
import { parseCpus, parseQuantity, QuantityError } from "../quantity.ts";
import { customIssue, headerName, httpPath } from "./helpers.ts";

export const PROBE_DEFAULTS = {
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  failureThreshold: 3,
  successThreshold: 1,
  /** Polling this fast until the first success is what makes a room ready in ~100 ms, not 10 s. */
  startIntervalSeconds: 0.02,
} as const;

export const RESTART_DEFAULTS = {
  policy: "on-failure",
  initialBackoffSeconds: 1,
  maxBackoffSeconds: 60,
  resetAfterSeconds: 60,
} as const;

export const STOP_DEFAULTS = { signal: "SIGTERM", gracePeriodSeconds: 10 } as const;

/** Node (and most runtimes) fail to start their thread pools below this many pids. */
export const MIN_PIDS = 64;
/** Docker refuses memory limits below 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** Signals a service may ask to be stopped with (PID 1 receives it). */
export const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGKILL"] as const;

const port = z.number().int().min(1).max(65535);

const probeSchema = z
  .strictObject({
    httpGet: z
      .strictObject({
        path: httpPath("HTTP path; a 200-399 answer is a success").default("/"),
        port: port.optional().describe("defaults to the first http port in ports"),
        httpHeaders: z.array(z.strictObject({ name: headerName, value: z.string() })).optional(),
      })
      .optional()
      .describe("succeed when an HTTP GET answers 200-399"),
    tcpSocket: z
      .strictObject({ port: port.optional().describe("defaults to the first port in ports") })
      .optional()
      .describe("succeed when a TCP connection opens"),
    exec: z
      .strictObject({ command: z.array(z.string()).min(1).describe("argv run inside the container; exit 0 is a success") })
      .optional()
      .describe("succeed when a command exits with 0"),
    initialDelaySeconds: z.number().min(0).default(PROBE_DEFAULTS.initialDelaySeconds).describe("wait this long after start before the first check"),
    periodSeconds: z.number().positive().default(PROBE_DEFAULTS.periodSeconds).describe("interval between checks after the first success"),
    timeoutSeconds: z.number().positive().default(PROBE_DEFAULTS.timeoutSeconds).describe("a check taking longer fails"),
    failureThreshold: z.number().int().min(1).default(PROBE_DEFAULTS.failureThreshold).describe("consecutive failures before the probe fails"),
    successThreshold: z.number().int().min(1).default(PROBE_DEFAULTS.successThreshold).describe("consecutive successes before the probe passes (1 for startup and liveness)"),
    startIntervalSeconds: z.number().positive().default(PROBE_DEFAULTS.startIntervalSeconds).describe("interval between checks until the first success"),
  })
  .superRefine((p, ctx) => {
    const kinds = (["httpGet", "tcpSocket", "exec"] as const).filter((k) => p[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue(
        customIssue(kinds.length === 0 ? "no check given" : `${kinds.join(" and ")} are both set; a probe has exactly one check`, {
          expected: "exactly one of httpGet, tcpSocket or exec",
          received: kinds.length === 0 ? "none of them" : kinds.join(" and "),
        }),
      );
    }
  });

export const probesSchema = z
  .strictObject({
    startup: probeSchema.optional().describe("gates readiness and liveness until it first passes; failing it restarts the service"),
    readiness: probeSchema.optional().describe("whether the service is ready for traffic; never restarts it"),
    liveness: probeSchema.optional().describe("failing it restarts the service"),
  })
  .describe("Kubernetes-style health probes");

export const restartSchema = z
  .strictObject({
    policy: z.enum(["always", "on-failure", "never"]).default(RESTART_DEFAULTS.policy).describe("when to restart an exited service"),
    initialBackoffSeconds: z.number().min(0).default(RESTART_DEFAULTS.initialBackoffSeconds).describe("delay before the first restart; doubles each time"),
    maxBackoffSeconds: z.number().min(0).default(RESTART_DEFAULTS.maxBackoffSeconds).describe("the delay never grows beyond this"),
    resetAfterSeconds: z.number().min(0).default(RESTART_DEFAULTS.resetAfterSeconds).describe("a run this long resets the backoff"),
  })
  .superRefine((r, ctx) => {
    if (r.maxBackoffSeconds < r.initialBackoffSeconds) {
      ctx.addIssue(
        customIssue(
          "is smaller than initialBackoffSeconds",
          { expected: `at least initialBackoffSeconds (${r.initialBackoffSeconds})`, received: String(r.maxBackoffSeconds) },
          ["maxBackoffSeconds"],
        ),
      );
    }
  })
  .describe("restart policy with exponential backoff (like Kubernetes CrashLoopBackOff)");

export const stopSchema = z
  .strictObject({
    signal: z
      .string()
      .default(STOP_DEFAULTS.signal)
      .transform((s) => {
        const upper = s.trim().toUpperCase();
        return upper.startsWith("SIG") ? upper : `SIG${upper}`;
      })
      .superRefine((s, ctx) => {
        if (!(STOP_SIGNALS as readonly string[]).includes(s)) {
          ctx.addIssue(customIssue("is not a stop signal Roomservice can send", { expected: `one of ${STOP_SIGNALS.join(", ")}` }));
        }
      })
      .describe("signal sent to the service's PID 1 to stop it (SIGTERM, TERM and term all work)"),
    gracePeriodSeconds: z.number().min(0).max(3600).default(STOP_DEFAULTS.gracePeriodSeconds).describe("time to exit after the signal before SIGKILL"),
  })
  .describe("how the service is stopped when the session ends");

export const resourcesSchema = z
  .strictObject({
    memory: z
      .union([z.string(), z.number()])
      .superRefine((m, ctx) => {
        try {
          const bytes = parseQuantity(m);
          if (bytes < MIN_MEMORY_BYTES) {
            ctx.addIssue(customIssue("is below the smallest memory limit containers accept (6Mi)", { expected: 'at least "6Mi"' }));
          }
        } catch (err) {
          if (!(err instanceof QuantityError)) throw err;
          ctx.addIssue(customIssue(err.message, { expected: 'a size such as "256Mi" or "1Gi", or a number of bytes' }));
        }
      })
      .optional()
      .describe('memory limit: "256Mi", "1Gi", "512M" or bytes'),
    cpus: z
      .union([z.number(), z.string()])
      .superRefine((c, ctx) => {
        try {
          parseCpus(c);
        } catch (err) {
          if (!(err instanceof QuantityError)) throw err;
          ctx.addIssue(customIssue(err.message, { expected: 'a number of CPUs such as 0.5 or 2, or millicores such as "500m"' }));
        }
      })
      .optional()
      .describe('CPU limit in CPUs (0.5, 2) or millicores ("500m")'),
    pids: z.number().int().min(MIN_PIDS).optional().describe(`maximum number of processes and threads (at least ${MIN_PIDS})`),
  })
  .describe("resource limits for the service's container");

export const secretsSchema = z
  .strictObject({
    env: z.boolean().default(true).describe("also set secret values as environment variables (as MeshAgent does); files under /run/secrets are always written"),
    fileOnly: z.array(z.string()).default([]).describe("names of secret environment entries delivered only as files, whatever env says"),
  })
  .describe("how secrets from environment[].secret reach the container");

export const roomserviceSchema = z
  .strictObject({
    probes: probesSchema.prefault({}),
    restart: restartSchema.prefault({}),
    stop: stopSchema.prefault({}),
    resources: resourcesSchema.prefault({}),
    secrets: secretsSchema.prefault({}),
  })
  .describe("Roomservice settings MeshAgent manifests have no place for; every field is optional");

export type RoomserviceSection = z.output<typeof roomserviceSchema>;
export type Probe = z.output<typeof probeSchema>;
