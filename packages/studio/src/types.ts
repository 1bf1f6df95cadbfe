/** Shapes of the Studio REST + SSE contract (docs/studio-api.md). JSON is snake_case. */

export type ServiceStateName =
  | "pending" | "starting" | "ready" | "unhealthy" | "backoff" | "stopping" | "stopped" | "exited" | "failed";

export interface StudioEvent {
  seq: number;
  session_id: string;
  room: string;
  at: string;
  kind: "session" | "participant" | "service";
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  service_id?: string;
  service_name?: string;
  participant?: { id: string; name: string; role: string };
}

export interface LogLine {
  seq: number;
  at: string;
  session_id: string;
  service_id: string;
  service_name: string;
  stream: "stdout" | "stderr";
  text: string;
}

export interface Stats {
  at: string;
  session_id: string;
  service_id: string;
  service_name: string;
  /** Percent of one core (100 = one full core). */
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number | null;
  cpu_limit_cores: number | null;
}

export interface ServiceState {
  service_id: string;
  name: string;
  image: string;
  scope: "room" | "project";
  state: ServiceStateName;
  restart_count: number;
  started_at: string | null;
  last_exit: null | { code: number | null; reason: "exit" | "signal" | "oom"; at: string };
  last_start_error: string | null;
  ports: { num: number; type: string; liveness_status: "not_configured" | "not_ready" | "ready"; last_error: string | null }[];
  events: { type: string; reason: string; message: string; count: number; first_timestamp: string; last_timestamp: string }[];
}

export interface Participant {
  id: string;
  name: string;
  role: string;
  joined_at: string;
}

export interface RoomLive {
  room: string;
  session: null | { id: string; started_at: string; participants: Participant[] };
  services: ServiceState[];
}

export interface RoomInfo {
  id?: string;
  name: string;
  live?: null | { session_id: string; started_at: string; participants: number; health: "ready" | "starting" | "unhealthy" | "failed" | "none" };
}

export interface SessionInfo {
  id: string;
  room_name: string;
  created_at: string;
  is_active: boolean;
  ended_at?: string | null;
  end_reason?: string | null;
  /** A count (SDK shape) or the identities seen (Roomservice). */
  participants?: number | string[];
  participants_detail?: { id: string; name: string; role: string; joined_at: string; left_at: string | null }[];
  services?: { id: string; name: string }[];
}

/** A stored service: its manifest plus id, version and scope (GET .../services). */
export interface ServiceRecord {
  id: string;
  version: number;
  room: string | null;
  created_at: string;
  updated_at: string;
  enabled?: boolean;
  metadata: { name: string; description?: string };
  container: { image: string; command?: string | string[]; environment?: EnvVar[]; storage?: { room?: { path: string; subpath?: string; read_only?: boolean }[] } };
  ports?: { num: number; type?: string; liveness?: string }[];
  roomservice?: Record<string, unknown>;
  [key: string]: unknown;
}

export type EnvVar =
  | { name: string; value: string }
  | { name: string; secret: { id: string; key?: string } }
  | { name: string; token: { identity: string; role?: string; api?: Record<string, unknown> } };

export interface SecretInfo {
  id: string;
  name: string;
  type: string;
  room: string | null;
  created_at: string;
  updated_at: string;
}

/** A located manifest error from the validate route. */
export interface ManifestError {
  path: string;
  message: string;
  expected?: string;
  got?: string;
  line?: number;
  column?: number;
}
