/**
 * What the services launcher needs from a container runtime. @roomservice/runtime's docker
 * and sandbox runtimes satisfy it; keeping the port here means the server depends on a
 * small surface, and tests can see exactly what is used.
 */
export interface LaunchSpec {
  serviceId: string;
  name: string;
  image: string;
  command?: string[];
  workingDir?: string;
  env: Record<string, string>;
  secretFiles: Record<string, string>;
  mounts: { hostPath: string; containerPath: string; readOnly: boolean }[];
  ports: { num: number; type: "http" | "tcp"; livenessPath?: string }[];
  probes: Record<string, unknown>;
  restart: { policy: "always" | "on-failure" | "never"; initialBackoffMs: number; maxBackoffMs: number; resetAfterMs: number };
  stop: { signal: string; gracePeriodMs: number };
  resources: { memoryBytes?: number; nanoCpus?: number; pidsLimit?: number };
  writableRootFs: boolean;
  secretValues: string[];
}

export interface ServiceEventJson {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  count: number;
  first_timestamp: number | string;
  last_timestamp: number | string;
}

export interface ServiceStateJson {
  service_id: string;
  state: string;
  container_id?: string | null;
  started_at?: number | null;
  restart_count: number;
  restart_scheduled_at?: number | null;
  last_exit_code?: number | null;
  last_exit_at?: number | null;
  last_start_error?: string | null;
  ports: { num: number; liveness_status: string; last_checked_at?: number | null; last_error?: string | null }[];
  events: ServiceEventJson[];
}

export interface LogLine {
  serviceId: string;
  stream: "stdout" | "stderr";
  line: string;
  timestamp: number;
}
