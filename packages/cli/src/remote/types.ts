/**
 * The REST shapes the CLI reads, as docs/studio-api.md specifies them (snake_case JSON).
 * Only the fields the CLI uses are listed; the server may send more.
 */
export interface ServiceState {
  service_id: string;
  name: string;
  image: string;
  scope: "room" | "project";
  state: string;
  restart_count: number;
  started_at: string | null;
  last_exit: null | { code: number | null; reason: "exit" | "signal" | "oom"; at: string };
  last_start_error: string | null;
  ports: { num: number; type: string; liveness_status: string; last_error: string | null }[];
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

export interface RoomEventJson {
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

export interface RoomJson {
  id: string;
  name: string;
  live?: null | { session_id: string; started_at: string; participants: number; health: string };
}

/** A recorded session, whichever spelling the server uses (item 28 moves it to snake_case). */
export interface SessionRow {
  id: string;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
  participants: string[];
}

/** Reads `GET .../rooms/{room}/sessions` rows in either spelling. */
export function sessionRow(r: Record<string, unknown>): SessionRow {
  const time = (v: unknown): string | null => (typeof v === "number" ? new Date(v).toISOString() : typeof v === "string" ? v : null);
  const parts = r.participants;
  return {
    id: String(r.id),
    started_at: time(r.started_at ?? r.created_at ?? r.startedAt) ?? "",
    ended_at: time(r.ended_at ?? r.endedAt),
    end_reason: (r.end_reason ?? r.endReason ?? null) as string | null,
    participants: Array.isArray(parts) ? parts.map((p) => (typeof p === "string" ? p : String((p as { name?: unknown }).name ?? p))) : [],
  };
}
