/**
 * The JSON shapes of the REST + SSE API Studio and the CLI read (docs/studio-api.md,
 * "Shapes"): what the room stream, the session routes and the SQLite session record carry.
 * Times are ISO strings on the wire. Types only: the server, the CLI and Studio share them.
 */

export type EventKind = "session" | "participant" | "service";

/** One point of a session's timeline. `seq` increases across the server (and across restarts). */
export interface ActivityEvent {
  seq: number;
  session_id: string;
  room: string;
  at: string;
  kind: EventKind;
  type: "Normal" | "Warning";
  /** SessionStarted SessionEnded ParticipantJoined ParticipantLeft, or a service event reason. */
  reason: string;
  message: string;
  service_id?: string;
  service_name?: string;
  participant?: ParticipantRef;
}

export interface ParticipantRef {
  id: string;
  name: string;
  role: string;
}

export interface Participant extends ParticipantRef {
  joined_at: string;
}

/** One line a service printed; `text` is already masked. */
export interface ActivityLogLine {
  seq: number;
  at: string;
  session_id: string;
  service_id: string;
  service_name: string;
  stream: "stdout" | "stderr";
  text: string;
  /**
   * The line's number in its service's output during this session (1, 2, 3, ...). A client
   * that sees a service's numbers jump knows how many lines it missed. Absent for output a
   * service printed after its session's records were released.
   */
  line_no?: number;
}

/** A resource sample of one service (CPU % of one core: 100 = one full core). */
export interface StatsSample {
  at: string;
  session_id: string;
  service_id: string;
  service_name: string;
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number | null;
  cpu_limit_cores: number | null;
  /**
   * 1, 2, 3… per service and session, every sample taken (on the room stream; absent from
   * listSessionMetrics, which keeps only some after the first hour): a jump tells a stream
   * client it missed samples, which it asks listSessionMetrics for (`after`).
   */
  sample_no?: number;
}

export type StudioServiceStateName =
  | "pending" | "starting" | "ready" | "unhealthy" | "backoff" | "stopping" | "stopped" | "exited" | "failed";

export interface ServiceState {
  service_id: string;
  name: string;
  image: string;
  scope: "room" | "project";
  state: StudioServiceStateName;
  /** false when the manifest says `enabled: false`: no session starts it (absent from older servers). */
  enabled?: boolean;
  restart_count: number;
  started_at: string | null;
  last_exit: null | { code: number | null; reason: "exit" | "signal" | "oom"; at: string };
  last_start_error: string | null;
  container_id: string | null;
  ports: { num: number; type: string; liveness_status: "not_configured" | "not_ready" | "ready"; last_error: string | null }[];
  events: { type: string; reason: string; message: string; count: number; first_timestamp: string; last_timestamp: string }[];
}

export interface RoomLive {
  room: string;
  session: null | { id: string; started_at: string; participants: Participant[] };
  services: ServiceState[];
}

/** Why a session ended (shared by the room, the store and the API). */
export type SessionEndReasonName = "last_participant_left" | "departure_timeout" | "terminated" | "server_shutdown" | "server_restart" | "lease_lost";

export const iso = (ms: number): string => new Date(ms).toISOString();
